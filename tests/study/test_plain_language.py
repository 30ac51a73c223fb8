"""Every response in the domain is short and plain, in its language, and at most 300 characters.

English: grade 6 or below. Spanish (the variations conditioned on the `language` slot):
Fernández-Huerta 70 or more. (The study config's answers and the configurable wording are
checked in test_wording.py.)
"""

from __future__ import annotations

from typing import Any

import pytest
import textstat
import yaml

from bot.core.languages import ENGLISH, LANGUAGE_SLOT, SPANISH
from bot.core.settings import PROJECT_ROOT
from bot.study.plain_language import (
    MAX_CHARACTERS,
    MIN_EASE_ES,
    check_text,
    reading_ease_es,
    reading_grade,
)


def _responses() -> dict[str, list[dict[str, Any]]]:
    """Every response of the domain, by name."""
    responses: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
        responses.update((yaml.safe_load(path.read_text()) or {}).get("responses") or {})
    return responses


def _language(variation: dict[str, Any]) -> str:
    """The language a variation is for: its `language` slot condition, else English."""
    for condition in variation.get("condition") or []:
        if condition.get("type") == "slot" and condition.get("name") == LANGUAGE_SLOT:
            return str(condition["value"])
    return ENGLISH


def _domain_texts() -> list[tuple[str, str, str]]:
    """(where, language, text) for every text and button title of every response."""
    texts = []
    for name, variations in _responses().items():
        for index, variation in enumerate(variations):
            language = _language(variation)
            where = f"{name}[{index}] ({language})"
            if variation.get("text"):
                texts.append((where, language, variation["text"]))
            for button in variation.get("buttons") or []:
                texts.append((f"{where} button", language, button["title"]))
    return texts


DOMAIN_TEXTS = _domain_texts()


def test_the_domain_has_responses_to_check() -> None:
    assert len(DOMAIN_TEXTS) > 20


@pytest.mark.parametrize(
    ("where", "language", "text"), DOMAIN_TEXTS, ids=[w for w, _, _ in DOMAIN_TEXTS]
)
def test_domain_response_is_plain_and_short(where: str, language: str, text: str) -> None:
    result = check_text(text, language)
    assert result.ok, f"{where}: {result.problem()}: {text!r}"


@pytest.mark.parametrize("name", sorted(_responses()))
def test_every_response_has_english_by_default_and_spanish_for_the_slot(name: str) -> None:
    variations = _responses()[name]
    languages = [_language(variation) for variation in variations]
    unconditioned = [variation for variation in variations if not variation.get("condition")]
    assert unconditioned, f"{name} has no unconditioned (English default) variation"
    assert SPANISH in languages, f"{name} has no Spanish variation (condition language = es)"
    assert set(languages) <= {ENGLISH, SPANISH}, f"{name}: unknown language in {languages}"


def test_spanish_variations_use_spanish_punctuation() -> None:
    for where, language, text in DOMAIN_TEXTS:
        if language != SPANISH:
            continue
        if "?" in text:
            assert "¿" in text, f"{where}: a question with no opening ¿: {text!r}"
        if "!" in text:
            assert "¡" in text, f"{where}: an exclamation with no opening ¡: {text!r}"


def test_the_check_fails_on_hard_or_long_text() -> None:
    hard = (
        "Pharmacokinetic considerations necessitate comprehensive documentation of "
        "concomitant medications administered throughout the investigational period."
    )
    assert reading_grade(hard) > 12
    assert not check_text(hard).ok
    assert not check_text("Call us. " * 40).ok
    assert check_text("Call us. " * 40).characters > MAX_CHARACTERS


def test_phone_numbers_do_not_count_as_hard_words() -> None:
    assert check_text("Call Maria at 312-555-0142.").ok


def test_the_spanish_check_fails_on_hard_or_long_text() -> None:
    hard = (
        "Las consideraciones farmacocinéticas requieren la documentación exhaustiva de los "
        "medicamentos concomitantes administrados durante el período de investigación."
    )
    assert reading_ease_es(hard) < MIN_EASE_ES
    assert not check_text(hard, SPANISH).ok
    assert "Fernández-Huerta" in check_text(hard, SPANISH).problem()
    assert not check_text("Llame ya. " * 40, SPANISH).ok


def test_plain_spanish_passes_with_numbers_and_placeholders() -> None:
    text = "Llame o mande un texto al {crisis_line}. Es gratis, las 24 horas."
    assert check_text(text, SPANISH).ok
    assert check_text("Llame a María al 312-555-0142.", SPANISH).ok


def test_the_spanish_check_leaves_textstat_and_the_english_check_as_they_were() -> None:
    text = "Please call the study nurse if you feel worse."
    before = (textstat.flesch_kincaid_grade(text), reading_grade(text))
    reading_ease_es("Por favor, llame a la enfermera del estudio si se siente peor.")
    assert (textstat.flesch_kincaid_grade(text), reading_grade(text)) == before
    assert textstat.syllable_count("consideration") == 5  # still English syllables
