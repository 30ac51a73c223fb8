"""Tests for bot/study/wording.py (and wording_es.py) and the texts of the example study.

Every participant-facing text exists in English and Spanish and is checked in its language
(studies/example.yml has complete Spanish).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.languages import SPANISH
from bot.study.config import (
    FAQ_TOPICS,
    StudyConfig,
    StudyConfigError,
    load_study_config,
    parse_study_config,
)
from bot.study.plain_language import check_text
from bot.study.wording import DEFAULTS, MESSAGE_VALUES, messages
from bot.study.wording_es import DEFAULTS_ES, MESSAGE_VALUES_ES

EXAMPLE_PATH = Path(__file__).resolve().parents[2] / "studies" / "example.yml"
PLACEHOLDER = re.compile(r"\{(\w*)\}")
MISSING_FACT = "your study team"
MISSING_FACT_ES = "su equipo del estudio"


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


def _spanish_default_templates() -> list[tuple[str, str]]:
    """Every Spanish default message, unrendered, named "default_es/<key>[i]"."""
    return [
        item
        for key, texts in DEFAULTS_ES.items()
        for item in _numbered(f"default_es/{key}", list(texts))
    ]


def _example_texts_es() -> list[tuple[str, str]]:
    """Every Spanish text of the example study, rendered as a Spanish participant gets it."""
    study = _example()
    texts = []
    for topic in FAQ_TOPICS:
        texts += _numbered(f"faq/{topic}/es", study.faq_answer(topic, language=SPANISH) or [])
        texts += _numbered(
            f"faq/{topic}/es/simpler",
            study.faq_answer(topic, simpler=True, language=SPANISH) or [],
        )
    for key in DEFAULTS:
        texts += _numbered(f"wording_es/{key}", messages(study, key, SPANISH, **MESSAGE_VALUES_ES))
    spanish = study.translation(SPANISH)
    for visit in study.visits:
        text = spanish.visits[visit.key].what_happens if visit.key in spanish.visits else ""
        texts.append((f"visit/{visit.key}/es", study.render(text, SPANISH)))
        # A visit's name is read inside its reminder.
        reminder = messages(
            study,
            "visit_reminder",
            SPANISH,
            visit_name=study.visit_name(visit.key, language=SPANISH),
            visit_when=MESSAGE_VALUES_ES["visit_when"],
        )
        texts += _numbered(f"visit/{visit.key}/es/reminder", reminder)
    texts.append(("study/summary/es", study.render(spanish.study.summary, SPANISH)))
    return texts


def _names(items: list[tuple[str, str]]) -> list[str]:
    return [where for where, _ in items]


DEFAULT_TEMPLATES = _default_templates()
EXAMPLE_TEXTS = _example_texts()
DEFAULT_TEMPLATES_ES = _spanish_default_templates()
EXAMPLE_TEXTS_ES = _example_texts_es()


def _assert_plain(where: str, text: str, language: str = "en") -> None:
    result = check_text(text, language)
    assert result.ok, (
        f"{where} is too hard or too long ({result.readability()}, "
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


# --- Spanish ---------------------------------------------------------------------------


def test_spanish_defaults_have_the_same_keys_as_the_english_ones() -> None:
    assert list(DEFAULTS_ES) == list(DEFAULTS)


@pytest.mark.parametrize("key", list(DEFAULTS))
def test_spanish_defaults_use_the_same_placeholders(key: str) -> None:
    english = {name for text in DEFAULTS[key] for name in PLACEHOLDER.findall(text)}
    spanish = {name for text in DEFAULTS_ES[key] for name in PLACEHOLDER.findall(text)}
    assert spanish == english, f"{key}: Spanish has {sorted(spanish)}, English {sorted(english)}"


def test_spanish_message_values_fill_the_same_placeholders() -> None:
    assert set(MESSAGE_VALUES_ES) == set(MESSAGE_VALUES)


@pytest.mark.parametrize(("where", "text"), DEFAULT_TEMPLATES_ES, ids=_names(DEFAULT_TEMPLATES_ES))
def test_every_spanish_default_message_is_short_and_plain(where: str, text: str) -> None:
    _assert_plain(where, text, SPANISH)


@pytest.mark.parametrize(("where", "text"), EXAMPLE_TEXTS_ES, ids=_names(EXAMPLE_TEXTS_ES))
def test_every_spanish_example_text_is_short_and_plain(where: str, text: str) -> None:
    _assert_plain(where, text, SPANISH)


@pytest.mark.parametrize(("where", "text"), EXAMPLE_TEXTS_ES, ids=_names(EXAMPLE_TEXTS_ES))
def test_spanish_example_texts_have_every_fact_filled_in(where: str, text: str) -> None:
    assert text.strip(), f"{where} is empty"
    assert not PLACEHOLDER.search(text), f"{where} still has a placeholder: {text!r}"
    assert MISSING_FACT_ES not in text.lower(), f"{where} reads {MISSING_FACT_ES!r}: {text!r}"


def test_the_example_study_is_complete_in_spanish() -> None:
    assert _example().missing_translations(SPANISH) == []


def test_example_spanish_faq_has_an_answer_and_a_shorter_simpler_one() -> None:
    study = _example()
    for topic in FAQ_TOPICS:
        spanish = study.faq[topic].es
        assert 1 <= len(spanish.answer) <= 3, f"faq/{topic}/es: answer needs 1 to 3 messages"
        assert len(spanish.simpler) == 1, f"faq/{topic}/es: simpler needs exactly one message"
        assert len(spanish.simpler[0]) < sum(map(len, spanish.answer)), (
            f"faq/{topic}/es: the simpler answer is not shorter than the answer"
        )


def test_example_spanish_wording_tailors_the_same_keys_as_the_english() -> None:
    study = _example()
    assert set(study.wording_es) == set(study.wording)
    assert set(study.wording_es) <= set(DEFAULTS)


def test_spanish_safety_messages_say_what_to_call_first() -> None:
    for study in (_example(), parse_study_config({})):
        assert messages(study, "emergency", SPANISH)[0].startswith("Llame al 911 ahora")
        self_harm = " ".join(messages(study, "emergency_self_harm", SPANISH))
        assert "988" in self_harm
        assert "911" in self_harm
        assert "en español (marque 2)" in self_harm


@pytest.mark.parametrize("key", ["medical_advice", "withdraw", "emergency_check"])
def test_spanish_offers_end_with_a_question(key: str) -> None:
    last = messages(parse_study_config({}), key, SPANISH)[-1]
    assert last.endswith("?")
    assert "¿" in last


def test_spanish_texts_use_opening_question_and_exclamation_marks() -> None:
    for where, text in DEFAULT_TEMPLATES_ES:
        for sentence in re.split(r"(?<=[.?!])\s+", text):
            if sentence.endswith("?") and not sentence.endswith('?"'):
                assert "¿" in sentence, f"{where}: {sentence!r} has no opening ¿"
            if sentence.endswith("!"):
                assert "¡" in sentence, f"{where}: {sentence!r} has no opening ¡"


@pytest.mark.parametrize("language", ["fr", "", "xx", "english"])
def test_an_unknown_language_gets_english(language: str) -> None:
    study = _example()
    assert messages(study, "fallback", language) == messages(study, "fallback")


def test_a_regional_spanish_code_gets_spanish() -> None:
    study = _example()
    assert messages(study, "fallback", "es-MX") == messages(study, "fallback", SPANISH)


def test_spanish_uses_the_spanish_study_wording_else_the_spanish_default() -> None:
    study = parse_study_config(
        {
            "emergency_number": "112",
            "wording": {"emergency": "Call {emergency_number} now.", "fallback": "Say again?"},
            "wording_es": {"emergency": "Llame al {emergency_number} ya."},
        }
    )

    assert messages(study, "emergency", SPANISH) == ["Llame al 112 ya."]
    assert messages(study, "fallback", SPANISH) == list(DEFAULTS_ES["fallback"])
    assert messages(study, "emergency") == ["Call 112 now."]
    assert study.missing_translations(SPANISH) == ["wording_es.fallback"]


def test_a_missing_spanish_faq_answer_is_none_and_listed() -> None:
    study = parse_study_config(
        {
            "faq": {
                "placebo": {"answer": "A fake.", "simpler": "Fake."},
                "costs": {"answer": "Free.", "es": {"answer": "Es gratis."}},
            }
        }
    )

    assert study.faq_answer("placebo", language=SPANISH) is None
    assert study.faq_answer("costs", language=SPANISH) == ["Es gratis."]
    assert study.faq_answer("costs", simpler=True, language=SPANISH) == ["Es gratis."]
    assert study.faq_answer("placebo") == ["A fake."]
    assert study.missing_translations(SPANISH) == [
        "faq.placebo.es.answer",
        "faq.placebo.es.simpler",
    ]


def test_spanish_facts_are_spanish_and_names_and_numbers_stay() -> None:
    study = _example()
    facts = study.facts(SPANISH)

    assert facts["coordinator_hours"] == "de lunes a viernes, de 9 de la mañana a 5 de la tarde"
    assert facts["nurse_name"] == "Línea de enfermería del estudio"
    assert facts["coordinator_name"] == study.facts()["coordinator_name"]
    assert facts["coordinator_phone"] == study.facts()["coordinator_phone"]
    assert facts["site_name"] == study.facts()["site_name"]


def test_a_text_fact_without_spanish_reads_as_a_spanish_safe_phrase() -> None:
    study = parse_study_config(
        {"contacts": {"coordinator": {"name": "Ana", "phone": "555-0101", "hours": "9 to 5"}}}
    )

    rendered = study.render(
        "Llame a {coordinator_name} al {coordinator_phone}, {coordinator_hours}.", SPANISH
    )

    assert rendered == "Llame a Ana al 555-0101, en horario de oficina."
    assert study.missing_translations(SPANISH) == ["translations.es.contacts.coordinator.hours"]
    assert study.render("{coordinator_hours}") == "9 to 5"


def test_every_missing_fact_reads_safely_in_spanish() -> None:
    study = parse_study_config({})

    assert study.render("{nurse_phone}|{nurse_hours}|{sponsor}", SPANISH) == (
        "el número en sus papeles del estudio|en horario de oficina|su equipo del estudio"
    )


def test_visit_names_in_each_language() -> None:
    study = _example()

    assert study.visit_name("week_4", language=SPANISH) == "Visita de la semana 4"
    assert study.visit_name("week_4") == "Week 4 visit"
    assert study.visit_name("no_such_visit", language=SPANISH) == "visita del estudio"
    assert study.visit_name("no_such_visit") == "study visit"


def test_translations_must_be_for_a_language_other_than_english() -> None:
    for language in ("fr", "en"):
        with pytest.raises(StudyConfigError, match="no such language"):
            parse_study_config({"translations": {language: {}}})


def test_a_translated_visit_the_schedule_has_not_is_reported_not_refused() -> None:
    study = parse_study_config(
        {
            "visits": [{"key": "week_4", "name": "Week 4 visit", "day": 28}],
            "translations": {"es": {"visits": {"week_99": {"name": "Semana 99"}}}},
        }
    )

    assert study.unused_translations() == ["translations.es.visits.week_99"]
    assert study.missing_translations(SPANISH) == ["translations.es.visits.week_4.name"]
    assert _example().unused_translations() == []
