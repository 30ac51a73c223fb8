"""Whole-message keywords in English and Spanish (bot.channels.keywords): what is one, what
is not (a question, a complaint, an emergency never is), and the language of its word.
"""

from __future__ import annotations

import pytest

from bot.channels.keywords import SMS_WORDS, WEB_WORDS, Keyword, KeywordMatch, keyword_of

STOP_ES = KeywordMatch(Keyword.STOP, "es")


@pytest.mark.parametrize(
    ("text", "keyword", "language"),
    [
        ("STOP", Keyword.STOP, "en"),
        ("  stop. ", Keyword.STOP, "en"),
        ("Info!", Keyword.HELP, "en"),
        ("unstop", Keyword.START, "en"),
        ("PARAR", Keyword.STOP, "es"),
        ("alto", Keyword.STOP, "es"),
        ("Cancelar", Keyword.STOP, "es"),
        ("BASTA!", Keyword.STOP, "es"),
        ("no mas", Keyword.STOP, "es"),
        ("NO MÁS", Keyword.STOP, "es"),
        ("no  más.", Keyword.STOP, "es"),
        ("detener", Keyword.STOP, "es"),
        ("EMPEZAR", Keyword.START, "es"),
        ("iniciar", Keyword.START, "es"),
        ("Comenzar", Keyword.START, "es"),
        ("AYUDA", Keyword.HELP, "es"),
        ("¡Ayuda!", Keyword.HELP, "es"),
        ("información", Keyword.HELP, "es"),
        ("INFORMACION", Keyword.HELP, "es"),
    ],
)
def test_a_keyword_and_the_language_of_its_word(text: str, keyword: Keyword, language: str) -> None:
    assert keyword_of(text) == KeywordMatch(keyword, language)


@pytest.mark.parametrize(
    "text",
    [
        "ya no me manden mensajes",
        "Ya no me manden más mensajes.",
        "no me manden mas mensajes",
        "no me manden mas mensajes de texto por favor",
        "por favor no me envien mensajes",
        "no me escriban mas msj",
        "dejen de mandarme mensajes",
        "Dejen de mandarme mensajes, por favor.",
        "dejen de enviarme mas mensajes gracias",
        "ya no quiero recibir mas mensajes",
        "no quiero mas mensajes",
    ],
)
def test_a_sentence_asking_for_no_more_texts_opts_out(text: str) -> None:
    assert keyword_of(text) == STOP_ES
    assert keyword_of(text, WEB_WORDS) == STOP_ES


@pytest.mark.parametrize(
    "text",
    [
        # Emergencies and distress go to the assistant (and the red-flag check).
        "ya no quiero vivir",
        "no quiero vivir mas",
        "ayuda no puedo respirar",
        "help me i cant breathe",
        "ya no me manden mensajes me duele mucho el pecho",
        "basta ya no aguanto el dolor",
        # Questions and complaints are not requests.
        "¿ya no me manden mensajes?",
        "ya no me manden mensajes?",
        "por que ya no me mandan mensajes",
        "ya no me mandan mensajes",
        "no me llegan los mensajes",
        "no me manden mas medicina",
        "que es un placebo",
        "alto riesgo",
        "no",
        "stop the rain",
        "",
    ],
)
def test_anything_else_is_not_a_keyword(text: str) -> None:
    assert keyword_of(text) is None


@pytest.mark.parametrize("text", ["cancelar", "basta", "no mas", "cancel", "end", "quit"])
def test_on_the_web_chat_words_that_may_mean_the_check_in_are_not_keywords(text: str) -> None:
    assert keyword_of(text, SMS_WORDS) is not None
    assert keyword_of(text, WEB_WORDS) is None


@pytest.mark.parametrize("text", ["parar", "alto", "detener", "ayuda", "STOP", "help"])
def test_the_web_chat_knows_the_plain_stop_and_help_words(text: str) -> None:
    assert keyword_of(text, WEB_WORDS) is not None


@pytest.mark.parametrize(
    ("text", "participant_language", "reply_language"),
    [
        ("PARAR", "en", "es"),
        ("PARAR", "es", "es"),
        ("PARAR", None, "es"),
        ("STOP", "es", "es"),
        ("STOP", "en", "en"),
        ("HELP", None, "en"),
        ("INFO", "es", "es"),
    ],
)
def test_a_spanish_word_is_answered_in_spanish_an_english_one_in_the_participants_language(
    text: str, participant_language: str | None, reply_language: str
) -> None:
    match = keyword_of(text)
    assert match is not None
    assert match.reply_language(participant_language) == reply_language
