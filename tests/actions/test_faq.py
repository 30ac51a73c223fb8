"""FAQ answers come from the study config at run time; ask_simpler re-explains them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.faq import ActionAnswerFaq, ActionExplainSimpler, faq_topic
from bot.study.config import FAQ_TOPICS, load_study_config
from tests.actions.conftest import TrackerFactory
from tests.actions.scenarios import selected_faq, texts
from tests.conftest import EXAMPLE_STUDY


async def test_answers_placebo_from_the_study_config(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    tracker = make_tracker(
        text="whats a placebo", intent="faq", response_selector=selected_faq("placebo")
    )

    events = await ActionAnswerFaq().run(dispatcher, tracker, domain)

    expected = load_study_config(EXAMPLE_STUDY).faq_answer("placebo")
    assert texts(dispatcher) == expected
    assert events == [SlotSet("last_answer", "faq/placebo")]


@pytest.mark.parametrize("topic", FAQ_TOPICS)
async def test_every_topic_has_an_answer_with_no_placeholder_left(
    topic: str, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(intent="faq", response_selector=selected_faq(topic))

    await ActionAnswerFaq().run(dispatcher, tracker, domain)

    said = texts(dispatcher)
    assert said, f"no answer for {topic}"
    assert not any("{" in text for text in said)


async def test_editing_the_config_changes_the_answer_without_retraining(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dispatcher: CollectingDispatcher,
    make_tracker: TrackerFactory,
    domain: dict[str, Any],
) -> None:
    study_file = tmp_path / "study.yml"
    config = yaml.safe_load(EXAMPLE_STUDY.read_text())
    config["faq"]["compensation"] = {"answer": "You get {per_visit_amount} for each visit."}
    config["compensation"]["per_visit"] = 40
    study_file.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("STUDY_CONFIG", str(study_file))
    from bot.core.settings import get_settings

    get_settings.cache_clear()
    tracker = make_tracker(intent="faq", response_selector=selected_faq("compensation"))

    await ActionAnswerFaq().run(dispatcher, tracker, domain)
    config["compensation"]["per_visit"] = 55
    study_file.write_text(yaml.safe_dump(config))
    import os

    os.utime(study_file, (1, 1))  # a new mtime even within the same second
    later = CollectingDispatcher()
    await ActionAnswerFaq().run(later, tracker, domain)

    assert texts(dispatcher) == ["You get $40 for each visit."]
    assert texts(later) == ["You get $55 for each visit."]


async def test_missing_topic_gets_general_answer_and_coordinator(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dispatcher: CollectingDispatcher,
    make_tracker: TrackerFactory,
    domain: dict[str, Any],
) -> None:
    study_file = tmp_path / "study.yml"
    config = yaml.safe_load(EXAMPLE_STUDY.read_text())
    del config["faq"]["placebo"]
    study_file.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("STUDY_CONFIG", str(study_file))
    from bot.core.settings import get_settings

    get_settings.cache_clear()

    await ActionAnswerFaq().run(
        dispatcher, make_tracker(intent="faq", response_selector=selected_faq("placebo")), domain
    )

    assert dispatcher.messages[0]["response"] == "utter_faq/placebo"
    coordinator = config["contacts"]["coordinator"]
    assert coordinator["name"] in texts(dispatcher)[-1]
    assert coordinator["phone"] in texts(dispatcher)[-1]


async def test_empty_study_config_never_crashes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dispatcher: CollectingDispatcher,
    make_tracker: TrackerFactory,
    domain: dict[str, Any],
) -> None:
    study_file = tmp_path / "empty.yml"
    study_file.write_text("")
    monkeypatch.setenv("STUDY_CONFIG", str(study_file))
    from bot.core.settings import get_settings

    get_settings.cache_clear()

    await ActionAnswerFaq().run(
        dispatcher, make_tracker(intent="faq", response_selector=selected_faq("risks")), domain
    )

    assert dispatcher.messages[0]["response"] == "utter_faq/risks"
    assert "study papers" in texts(dispatcher)[-1]


async def test_ask_simpler_re_explains_the_last_answer(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    tracker = make_tracker(intent="ask_simpler", slots={"last_answer": "faq/randomization"})

    events = await ActionExplainSimpler().run(dispatcher, tracker, domain)

    simpler = load_study_config(EXAMPLE_STUDY).faq_answer("randomization", simpler=True)
    assert texts(dispatcher) == simpler
    assert simpler != load_study_config(EXAMPLE_STUDY).faq_answer("randomization")
    assert events == []


async def test_ask_simpler_with_nothing_to_re_explain_offers_examples(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    await ActionExplainSimpler().run(dispatcher, make_tracker(intent="ask_simpler"), domain)

    assert "Who do I call?" in texts(dispatcher)[0]


def test_topic_from_a_button_payload_intent() -> None:
    assert faq_topic({"intent": {"name": "faq/placebo"}}) == "placebo"
    assert faq_topic({"intent": {"name": "greet"}}) is None


# --- Spanish ---------------------------------------------------------------------------

SPANISH = {"language": "es"}


async def test_a_spanish_question_gets_the_study_s_spanish_answer(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    tracker = make_tracker(
        text="hola, q es un placebo",
        intent="faq",
        slots=SPANISH,
        response_selector=selected_faq("placebo"),
    )

    await ActionAnswerFaq().run(dispatcher, tracker, domain)

    expected = load_study_config(EXAMPLE_STUDY).faq_answer("placebo", language="es")
    assert texts(dispatcher) == expected
    assert expected and expected[0].startswith("Un placebo es un inhalador falso.")


async def test_ask_simpler_in_spanish_re_explains_in_spanish(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict[str, Any]
) -> None:
    tracker = make_tracker(
        intent="ask_simpler", slots={**SPANISH, "last_answer": "faq/randomization"}
    )

    await ActionExplainSimpler().run(dispatcher, tracker, domain)

    assert texts(dispatcher) == [
        "Es como tirar una moneda. Ni usted ni el equipo saben qué inhalador le tocó."
    ]


async def test_a_missing_spanish_answer_gets_the_spanish_general_answer_and_the_coordinator(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dispatcher: CollectingDispatcher,
    make_tracker: TrackerFactory,
    domain: dict[str, Any],
) -> None:
    study_file = tmp_path / "study.yml"
    config = yaml.safe_load(EXAMPLE_STUDY.read_text())
    del config["faq"]["placebo"]["es"]
    study_file.write_text(yaml.safe_dump(config, allow_unicode=True))
    monkeypatch.setenv("STUDY_CONFIG", str(study_file))
    from bot.core.settings import get_settings

    get_settings.cache_clear()
    tracker = make_tracker(intent="faq", slots=SPANISH, response_selector=selected_faq("placebo"))

    await ActionAnswerFaq().run(dispatcher, tracker, domain)

    assert dispatcher.messages[0]["response"] == "utter_faq/placebo"
    coordinator = config["contacts"]["coordinator"]
    assert texts(dispatcher) == [
        f"Aquí no tengo la respuesta completa. Por favor, pregúntele a {coordinator['name']} "
        f"al {coordinator['phone']}."
    ]


@pytest.mark.parametrize("language", ["es", "en"])
async def test_rasa_picks_the_general_answer_in_the_conversation_language(
    language: str, domain: dict[str, Any]
) -> None:
    from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    loaded = Domain.from_dict(domain)
    tracker = DialogueStateTracker.from_events("P-001", [], slots=loaded.slots)
    tracker.slots["language"].value = language
    nlg = TemplatedNaturalLanguageGenerator(loaded.responses)

    said = await nlg.generate("utter_faq/placebo", tracker, "rest")

    assert said is not None
    spanish = "Un placebo se ve como la medicina de verdad, pero no tiene medicina."
    english = "A placebo looks like the real medicine, but it has no medicine in it."
    assert said["text"].startswith(spanish if language == "es" else english)
