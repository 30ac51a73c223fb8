"""Whole-message keywords the channels answer themselves, before the assistant sees them.

HELP and INFO (AYUDA, INFORMACION in Spanish; any case, with or without accents, the whole
message, a trailing "!" or "." allowed) get the study contact, the nurse line and the
emergency number, and no escalation: HELP is a word participants are told to use (on SMS
the carriers require it to return the study contact), not an emergency. "help me i cant
breathe" or "ayuda no puedo respirar" is not a keyword: it goes to the assistant, and the
red-flag check makes it an emergency.

STOP words opt a participant out of everything the assistant sends on its own; START
words opt them back in (SMS and Telegram). The web chat sends nothing on its own, so STOP
there only says so.

Spanish: PARAR, ALTO, CANCELAR, BASTA, NO MAS, DETENER opt out; EMPEZAR, INICIAR,
COMENZAR opt back in. A few whole-message sentences asking for no more texts ("ya no me
manden mensajes", "dejen de mandarme mensajes") opt out too: each names the messages and
asks for them to stop, so no question, complaint or emergency is one ("ya no me mandan
mensajes" is a complaint, "ya no quiero vivir" an emergency: both go to the assistant).

English keywords work for everyone. A match says which language its word is in, so the
confirmation can be in that language (`KeywordMatch.reply_language`).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.languages import ENGLISH, SPANISH, language_or_default


class Keyword(enum.Enum):
    """What a keyword message asks for."""

    HELP = "help"
    STOP = "stop"
    START = "start"


@dataclass(frozen=True)
class KeywordMatch:
    """A keyword message: what it asks for, and the language of the word used."""

    keyword: Keyword
    language: str

    def reply_language(self, participant_language: str | None) -> str:
        """The language to confirm in: a Spanish word's, else the participant's own.

        English keywords are the carriers' words every participant may know (a Spanish
        speaker may text STOP), so they say nothing about the participant's language.
        """
        if self.language != ENGLISH:
            return self.language
        return language_or_default(participant_language)


# Per keyword, per language: the words (upper case, without accents, spaces single).
Words = Mapping[Keyword, Mapping[str, frozenset[str]]]

# SMS and Telegram: the carriers' opt-out, opt-in and help words, and their Spanish
# equivalents.
SMS_WORDS: Words = {
    Keyword.HELP: {
        ENGLISH: frozenset({"HELP", "INFO"}),
        SPANISH: frozenset({"AYUDA", "INFORMACION"}),
    },
    Keyword.STOP: {
        ENGLISH: frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}),
        SPANISH: frozenset({"PARAR", "ALTO", "CANCELAR", "BASTA", "NO MAS", "DETENER"}),
    },
    Keyword.START: {
        ENGLISH: frozenset({"START", "UNSTOP"}),
        SPANISH: frozenset({"EMPEZAR", "INICIAR", "COMENZAR"}),
    },
}
# The web chat, which sends nothing on its own: STOP only says so, and "cancel", "end" and
# "quit" ("cancelar", "basta", "no mas") go to the assistant (they may mean the check-in).
WEB_WORDS: Words = {
    Keyword.HELP: SMS_WORDS[Keyword.HELP],
    Keyword.STOP: {
        ENGLISH: frozenset({"STOP", "STOPALL", "UNSUBSCRIBE"}),
        SPANISH: frozenset({"PARAR", "ALTO", "DETENER"}),
    },
}

# Spanish sentences that ask for no more texts, read whole (lower case, no accents or
# punctuation). Only imperative and subjunctive forms ("manden", "envien"): the
# indicative ("me mandan") reports what happens, it does not ask.
_SEND = r"(?:manden|mande|mandes|envien|envie|envies|escriban|escriba)"
_TEXTS = r"(?:(?:mensajes|mensaje)(?: de texto)?|msjs|msj|textos|sms)"
_TO_ME = r"(?:mandarme|enviarme|escribirme)"
_PLEASE = r"(?: (?:por favor|porfa|porfavor|gracias))*"
_OPT_OUT_SENTENCES = re.compile(
    rf"(?:por favor )?(?:"
    rf"(?:ya )?no me {_SEND} (?:mas )?{_TEXTS}"
    rf"|dejen de {_TO_ME} (?:{_TEXTS}|mas {_TEXTS})"
    rf"|(?:ya )?no quiero (?:recibir )?mas {_TEXTS}"
    rf"){_PLEASE}"
)
# The keyword sentences a list of words recognises: only where STOP words are keywords.
_SENTENCES = {Keyword.STOP: {SPANISH: _OPT_OUT_SENTENCES}}

_EDGES = re.compile(r"^[\s¡]+|[\s.!]+$")
_SPACES = re.compile(r"\s+")
_SENTENCE_PUNCTUATION = re.compile(r"[,.!¡]+")


def keyword_of(text: str, words: Words = SMS_WORDS) -> KeywordMatch | None:
    """The keyword a whole message is (and the language of its word), or None."""
    word = _SPACES.sub(" ", _EDGES.sub("", _without_accents(text))).upper()
    for keyword, by_language in words.items():
        for language, listed in by_language.items():
            if word in listed:
                return KeywordMatch(keyword, language)
    return _sentence_of(word, words)


def _sentence_of(word: str, words: Words) -> KeywordMatch | None:
    """A keyword sentence ("ya no me manden mensajes"), where these words have STOP."""
    sentence = _SPACES.sub(" ", _SENTENCE_PUNCTUATION.sub(" ", word)).strip().lower()
    for keyword, by_language in _SENTENCES.items():
        if keyword not in words:
            continue
        for language, pattern in by_language.items():
            if pattern.fullmatch(sentence):
                return KeywordMatch(keyword, language)
    return None


def _without_accents(text: str) -> str:
    """The text with accents dropped ("NO MÁS" -> "NO MAS", "INFORMACIÓN" -> "INFORMACION")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))
