"""Plain-language limits for every participant-facing text, in each language.

English: US grade 6 or below (Flesch-Kincaid). Spanish: Fernández-Huerta 70 or above,
"bastante fácil" or easier (the Spanish adaptation of Flesch's reading ease; about grade 6).
Both: at most 300 characters per message (two SMS segments).

textstat 0.7.4 counts syllables offline with pyphen (newer releases fetch NLTK data). Its
language is global state (`textstat.set_lang`), so each language here has its own
`textstatistics` instance instead, and nothing else's readings change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from textstat.textstat import textstatistics

from bot.core.languages import ENGLISH, SPANISH

MAX_GRADE = 6.0
MIN_EASE_ES = 70.0
MAX_CHARACTERS = 300

_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
# Phone numbers, times and amounts are read as one short "word" each.
_NUMBERISH = re.compile(r"[+$]?\d[\d\-\s().:,]*\d|\d")
_URL = re.compile(r"https?://\S+")
# What a placeholder and a link count as: one short word of the language.
_SHORT_WORD = {ENGLISH: "it", SPANISH: "él"}
_LINK_WORD = {ENGLISH: "link", SPANISH: "enlace"}


def _readers() -> dict[str, textstatistics]:
    english, spanish = textstatistics(), textstatistics()
    english.set_lang("en_US")
    spanish.set_lang("es")
    return {ENGLISH: english, SPANISH: spanish}


_READERS = _readers()


@dataclass(frozen=True)
class TextCheck:
    """The result of checking one message.

    `grade` (English) is a US school grade: lower is easier. `ease` (Spanish) is
    Fernández-Huerta's 0-100 reading ease: higher is easier.
    """

    text: str
    characters: int
    language: str = ENGLISH
    grade: float = 0.0
    ease: float = 100.0

    @property
    def ok(self) -> bool:
        """True when the message is short and easy enough."""
        return not self.problem()

    def readability(self) -> str:
        """The score that applies to the message's language, in words."""
        if self.language == SPANISH:
            return f"Fernández-Huerta {self.ease:.1f}"
        return f"grade {self.grade:.1f}"

    def problem(self) -> str:
        """A one-line description of what is wrong, or an empty string."""
        problems = []
        if self.language == SPANISH and self.ease < MIN_EASE_ES:
            problems.append(f"Fernández-Huerta {self.ease:.1f} < {MIN_EASE_ES:.0f}")
        if self.language != SPANISH and self.grade > MAX_GRADE:
            problems.append(f"grade {self.grade:.1f} > {MAX_GRADE:.0f}")
        if self.characters > MAX_CHARACTERS:
            problems.append(f"{self.characters} characters > {MAX_CHARACTERS}")
        return ", ".join(problems)


def _prepared(text: str, language: str) -> str:
    """The text with placeholders, numbers and links counted as simple words."""
    text = _PLACEHOLDER.sub(_SHORT_WORD[language], text)
    return _URL.sub(_LINK_WORD[language], _NUMBERISH.sub("5", text))


def reading_grade(text: str) -> float:
    """Flesch-Kincaid grade of an English message (numbers and links count as simple words)."""
    prepared = _prepared(text, ENGLISH)
    if not prepared.strip():
        return 0.0
    return float(_READERS[ENGLISH].flesch_kincaid_grade(prepared))


def reading_ease_es(text: str) -> float:
    """Fernández-Huerta reading ease of a Spanish message (70 or more: "bastante fácil")."""
    prepared = _prepared(text, SPANISH)
    if not prepared.strip():
        return 100.0
    return float(_READERS[SPANISH].fernandez_huerta(prepared))


def check_text(text: str, language: str = ENGLISH) -> TextCheck:
    """Measure one participant-facing message in its language ("en" or "es")."""
    if language == SPANISH:
        return TextCheck(
            text=text, characters=len(text), language=SPANISH, ease=reading_ease_es(text)
        )
    return TextCheck(text=text, characters=len(text), grade=reading_grade(text))
