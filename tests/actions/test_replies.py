"""Config-driven texts in the conversation's language (bot/actions/replies.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.fallback import MAIN_OPTIONS, ActionFallbackHelp
from bot.actions.replies import YES_NO, buttons_in, choices, language_of
from bot.actions.safety import ActionMedicalAdvice
from bot.core.settings import PROJECT_ROOT
from tests.actions.conftest import TrackerFactory
from tests.actions.scenarios import texts

ACTIONS = PROJECT_ROOT / "bot" / "actions"


@pytest.mark.parametrize(
    ("slot", "language"), [("es", "es"), ("en", "en"), (None, "en"), ("fr", "en"), ("ES", "es")]
)
def test_language_of_reads_the_slot(
    make_tracker: TrackerFactory, slot: str | None, language: str
) -> None:
    assert language_of(make_tracker(slots={"language": slot})) == language


def test_choices_keep_one_payload_in_every_language() -> None:
    options = choices(("yes", "Yes", "Sí"), ("no", "No", "No"))

    assert buttons_in(options, "es") == (
        {"title": "Sí", "payload": "yes"},
        {"title": "No", "payload": "no"},
    )
    assert [b["payload"] for b in buttons_in(options, "en")] == ["yes", "no"]
    assert buttons_in(options, "fr") == buttons_in(options, "en")
    assert [b["title"] for b in buttons_in(YES_NO, "es")] == ["Sí", "No"]


async def test_a_wording_action_speaks_the_conversation_language(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(text="puedo tomar ibuprofeno", slots={"language": "es"})

    await ActionMedicalAdvice().run(dispatcher, tracker, domain)

    assert texts(dispatcher)[0].startswith("Es una buena pregunta.")
    assert [b["title"] for b in dispatcher.messages[-1]["buttons"]] == ["Sí", "No"]
    assert [b["payload"] for b in dispatcher.messages[-1]["buttons"]] == ["yes", "no"]


def _calls_without_language(path: Path) -> list[str]:
    """`messages(study, key)` calls that do not pass `language=`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "messages"):
            continue
        if not any(keyword.arg == "language" for keyword in node.keywords):
            found.append(f"{path.name}:{node.lineno}")
    return found


@pytest.mark.parametrize("path", sorted(ACTIONS.glob("*.py")), ids=lambda path: path.name)
def test_every_action_text_is_sent_in_the_conversation_language(path: Path) -> None:
    assert _calls_without_language(path) == []


async def test_the_fallback_offers_spanish_options_with_the_same_payloads(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    await ActionFallbackHelp().run(dispatcher, make_tracker(slots={"language": "es"}), domain)

    assert texts(dispatcher)[0].startswith("Perdón, no entendí bien.")
    buttons = dispatcher.messages[-1]["buttons"]
    assert [b["title"] for b in buttons] == [
        "Hacer mi chequeo",
        "Preguntar sobre el estudio",
        "Hablar con una persona",
    ]
    assert [b["payload"] for b in buttons] == [b["payload"] for b in MAIN_OPTIONS["en"]]
