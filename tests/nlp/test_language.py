"""Reading a message's language and a request to change it (bot/nlp/language.py)."""

from __future__ import annotations

import pytest

from bot.nlp.language import detect_language, metadata_language, requested_language


@pytest.mark.parametrize(
    "text",
    [
        "hola, q es un placebo",
        "me duele mucho el pecho",
        "ok gracias",
        "tengo tos desde ayer",
        "¿cuánto me pagan?",
        "sí",
        "quiero salir del estudio",
        "ola buenas tardes",
        "no puedo respirar bien",
        "se me olvido la bomba hoy",
        "nel",
    ],
)
def test_spanish_texting_reads_as_spanish(text: str) -> None:
    assert detect_language(text) == "es"


@pytest.mark.parametrize(
    "text",
    [
        "hi",
        "what is a placebo",
        "i cant breathe",
        "chest pain",
        "yes",
        "thanks so much",
        "when is my next visit",
        "im feeling good today",
    ],
)
def test_english_texting_reads_as_english(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize("text", ["ok", "3", "placebo?", "no", "", "👍"])
def test_a_message_with_no_evidence_has_no_language(text: str) -> None:
    assert detect_language(text) is None


@pytest.mark.parametrize(
    ("text", "current", "wanted"),
    [
        ("español", "en", "es"),
        ("Espanol!", "en", "es"),
        ("SPANISH", "en", "es"),
        ("en español por favor", "en", "es"),
        ("english", "es", "en"),
        ("Inglés", "es", "en"),
        ("in english please", "es", "en"),
        ("cambiar idioma", "en", "es"),
        ("cambiar idioma", "es", "en"),
        ("change language", "es", "en"),
        ("cambiar idioma", None, "es"),
    ],
)
def test_whole_message_requests_change_the_language(
    text: str, current: str | None, wanted: str
) -> None:
    assert requested_language(text, current=current) == wanted


@pytest.mark.parametrize(
    "text",
    [
        "my spanish teacher said i look pale",
        "hablo español pero me duele el pecho",
        "english is hard for me, i cant breathe",
        "que idioma hablas?",
    ],
)
def test_a_request_is_only_a_whole_short_message(text: str) -> None:
    assert requested_language(text, current="en") is None


def test_metadata_language_accepts_only_languages_we_speak() -> None:
    assert metadata_language({"language": "es"}) == "es"
    assert metadata_language({"language": "fr"}) is None
    assert metadata_language(None) is None
