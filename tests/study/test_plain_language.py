"""Every response in the domain is short and plain: grade 6 or below, about 300 characters.

(The study config's answers and the configurable wording are checked in test_wording.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import textstat
import yaml

from bot.core.languages import SPANISH
from bot.core.settings import PROJECT_ROOT
from bot.study.plain_language import (
    MAX_CHARACTERS,
    MIN_EASE_ES,
    check_text,
    reading_ease_es,
    reading_grade,
)


def _domain_texts() -> list[tuple[str, str]]:
    texts = []
    for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
        responses = (yaml.safe_load(path.read_text()) or {}).get("responses") or {}
        for name, variations in responses.items():
            for index, variation in enumerate(variations):
                if variation.get("text"):
                    texts.append((f"{Path(path).name}:{name}[{index}]", variation["text"]))
                for button in variation.get("buttons") or []:
                    texts.append((f"{Path(path).name}:{name}[{index}] button", button["title"]))
    return texts


DOMAIN_TEXTS = _domain_texts()


def test_the_domain_has_responses_to_check() -> None:
    assert len(DOMAIN_TEXTS) > 20


@pytest.mark.parametrize(("where", "text"), DOMAIN_TEXTS, ids=[w for w, _ in DOMAIN_TEXTS])
def test_domain_response_is_plain_and_short(where: str, text: str) -> None:
    result = check_text(text)
    assert result.ok, f"{where}: {result.problem()}: {text!r}"


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
