"""Tests for bot/study/wording.py and the texts of the example study (studies/example.yml)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.study.config import FAQ_TOPICS, StudyConfig, load_study_config, parse_study_config
from bot.study.plain_language import check_text
from bot.study.wording import DEFAULTS, MESSAGE_VALUES, messages

EXAMPLE_PATH = Path(__file__).resolve().parents[2] / "studies" / "example.yml"
PLACEHOLDER = re.compile(r"\{(\w*)\}")
MISSING_FACT = "your study team"


def _example() -> StudyConfig:
    return load_study_config(EXAMPLE_PATH)


def _numbered(where: str, texts: list[str]) -> list[tuple[str, str]]:
    return [(f"{where}[{index}]", text) for index, text in enumerate(texts)]


def _default_templates() -> list[tuple[str, str]]:
    """Every default message, unrendered, named "default/<key>[i]"."""
    return [
        item for key, texts in DEFAULTS.items() for item in _numbered(f"default/{key}", list(texts))
    ]


def _example_texts() -> list[tuple[str, str]]:
    """Every participant-facing text of the example study, rendered, with where it is from."""
    study = _example()
    texts = []
    for topic in FAQ_TOPICS:
        texts += _numbered(f"faq/{topic}", study.faq_answer(topic) or [])
        texts += _numbered(f"faq/{topic}/simpler", study.faq_answer(topic, simpler=True) or [])
    for key in DEFAULTS:
        texts += _numbered(f"wording/{key}", messages(study, key, **MESSAGE_VALUES))
    texts += [(f"visit/{visit.key}", study.render(visit.what_happens)) for visit in study.visits]
    texts.append(("study/summary", study.render(study.study.summary)))
    return texts


def _names(items: list[tuple[str, str]]) -> list[str]:
    return [where for where, _ in items]


DEFAULT_TEMPLATES = _default_templates()
EXAMPLE_TEXTS = _example_texts()


def _assert_plain(where: str, text: str) -> None:
    result = check_text(text)
    assert result.ok, (
        f"{where} is too hard or too long (grade {result.grade:.1f}, "
        f"{result.characters} characters: {result.problem()}): {text!r}"
    )


@pytest.mark.parametrize(("where", "text"), DEFAULT_TEMPLATES, ids=_names(DEFAULT_TEMPLATES))
def test_every_default_message_is_short_and_plain(where: str, text: str) -> None:
    _assert_plain(where, text)


@pytest.mark.parametrize(("where", "text"), EXAMPLE_TEXTS, ids=_names(EXAMPLE_TEXTS))
def test_every_example_text_is_short_and_plain(where: str, text: str) -> None:
    _assert_plain(where, text)


@pytest.mark.parametrize(("where", "text"), EXAMPLE_TEXTS, ids=_names(EXAMPLE_TEXTS))
def test_example_texts_have_every_fact_filled_in(where: str, text: str) -> None:
    assert not PLACEHOLDER.search(text), f"{where} still has a placeholder: {text!r}"
    assert MISSING_FACT not in text.lower(), f"{where} reads {MISSING_FACT!r}: {text!r}"


def test_example_defines_every_faq_topic_with_an_answer_and_a_simpler_one() -> None:
    study = _example()
    missing = sorted(set(FAQ_TOPICS) - set(study.faq))
    assert not missing, f"FAQ topics missing from {EXAMPLE_PATH.name}: {missing}"
    for topic in FAQ_TOPICS:
        entry = study.faq[topic]
        assert 1 <= len(entry.answer) <= 3, f"faq/{topic}: answer needs 1 to 3 messages"
        assert len(entry.simpler) == 1, f"faq/{topic}: simpler needs exactly one message"
        assert len(entry.simpler[0]) < sum(map(len, entry.answer)), (
            f"faq/{topic}: the simpler answer is not shorter than the answer"
        )


def test_example_has_no_unknown_faq_topics_or_wording_keys() -> None:
    study = _example()
    assert set(study.faq) <= set(FAQ_TOPICS), sorted(set(study.faq) - set(FAQ_TOPICS))
    assert set(study.wording) <= set(DEFAULTS), sorted(set(study.wording) - set(DEFAULTS))


def test_example_tailors_the_study_specific_wording() -> None:
    study = _example()
    for key in ("emergency", "contact_person", "missed_dose"):
        assert study.wording_text(key), f"{EXAMPLE_PATH.name} has no wording for {key!r}"


def test_defaults_use_only_known_placeholders() -> None:
    known = set(_example().facts()) | set(MESSAGE_VALUES)
    for where, text in DEFAULT_TEMPLATES:
        unknown = set(PLACEHOLDER.findall(text)) - known
        assert not unknown, f"{where} uses unknown placeholders {sorted(unknown)}: {text!r}"


def test_safety_messages_say_what_to_call_first() -> None:
    study = _example()
    assert messages(study, "emergency")[0].startswith("Call 911 now")
    assert messages(parse_study_config({}), "emergency")[0].startswith("Call 911 now")
    self_harm = " ".join(messages(study, "emergency_self_harm"))
    assert "988" in self_harm
    assert "911" in self_harm


@pytest.mark.parametrize("key", ["medical_advice", "withdraw"])
def test_offers_end_with_a_yes_no_question(key: str) -> None:
    assert messages(parse_study_config({}), key)[-1].endswith("?")


def test_messages_fall_back_to_the_rendered_default() -> None:
    study = parse_study_config(
        {"contacts": {"nurse": {"phone": "555-0100"}}, "wording": {"emergency": "Call now."}}
    )

    assert messages(study, "symptom_contact") == [
        text.format(nurse_phone="555-0100", emergency_number="911")
        for text in DEFAULTS["symptom_contact"]
    ]


def test_messages_use_the_study_wording_when_it_has_some() -> None:
    study = parse_study_config(
        {
            "emergency_number": "112",
            "wording": {"emergency": ["Call {emergency_number} now.", "Help is coming."]},
        }
    )

    assert messages(study, "emergency") == ["Call 112 now.", "Help is coming."]


def test_blank_study_wording_falls_back_to_the_default() -> None:
    study = parse_study_config({"wording": {"fallback": "  "}})

    assert messages(study, "fallback") == list(DEFAULTS["fallback"])


def test_unknown_key_raises_key_error() -> None:
    with pytest.raises(KeyError):
        messages(_example(), "no_such_key")


@pytest.mark.parametrize("raw", [None, {}, {"study": {}, "contacts": {}, "faq": {}}])
def test_a_study_with_everything_missing_still_renders_every_default(raw: object) -> None:
    study = parse_study_config(raw)

    for key in DEFAULTS:
        rendered = messages(study, key)
        assert rendered, key
        for text in rendered:
            assert text.strip(), key
            assert not PLACEHOLDER.search(text), f"{key}: {text!r}"
