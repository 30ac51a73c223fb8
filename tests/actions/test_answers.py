"""Reading yes and no in English and Spanish (bot/actions/answers.py)."""

from __future__ import annotations

import pytest

from bot.actions.answers import NO_WORDS, YES_WORDS, read_yes_no, words_of


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", True), ("Yeah!", True), ("yes, i did", True), ("no", False), ("nope", False),
        ("no thanks", False), ("no, thanks", False),
        ("maybe", None), ("", None),
        ("sí", True), ("Si", True), ("¡Sí!", True), ("simón", True), ("claro", True),
        ("claro que sí", True), ("ajá", True), ("si, la tomé", True), ("dale", True),
        ("nel", False), ("nop", False), ("No.", False), ("no gracias", False), ("nada", False),
        ("nada nuevo", False), ("todo bien", False), ("no tengo nada", False),
        ("claro que no", None), ("quién sabe", None),
    ],
)  # fmt: skip
def test_yes_and_no_in_english_and_spanish(text: str, value: bool | None) -> None:
    assert read_yes_no(text) is value


def test_spanish_words_never_change_an_english_reading() -> None:
    assert all(read_yes_no(word) is True for word in YES_WORDS)
    assert all(read_yes_no(word) is False for word in NO_WORDS)


def test_words_of_folds_accents_and_spanish_punctuation() -> None:
    assert words_of("  ¿Sí?  ") == "si"
    assert words_of("¡MUCHÍSIMO, señora!") == "muchisimo senora"
    assert words_of("so-so, 24/7") == "so-so 24/7"
    assert words_of("I didn't") == "i didnt"
