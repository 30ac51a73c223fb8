"""Plain-language limits for every participant-facing text: US grade 6, about 300 characters.

textstat 0.7.4 counts syllables offline with pyphen (newer releases fetch NLTK data).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import textstat

MAX_GRADE = 6.0
MAX_CHARACTERS = 300

_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
# Phone numbers, times and amounts are read as one short "word" each.
_NUMBERISH = re.compile(r"[+$]?\d[\d\-\s().:,]*\d|\d")
_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class TextCheck:
    """The result of checking one message."""

    text: str
    grade: float
    characters: int

    @property
    def ok(self) -> bool:
        """True when the message is short and easy enough."""
        return self.grade <= MAX_GRADE and self.characters <= MAX_CHARACTERS

    def problem(self) -> str:
        """A one-line description of what is wrong, or an empty string."""
        problems = []
        if self.grade > MAX_GRADE:
            problems.append(f"grade {self.grade:.1f} > {MAX_GRADE:.0f}")
        if self.characters > MAX_CHARACTERS:
            problems.append(f"{self.characters} characters > {MAX_CHARACTERS}")
        return ", ".join(problems)


def reading_grade(text: str) -> float:
    """Flesch-Kincaid grade of a message, with numbers and links counted as simple words."""
    prepared = _URL.sub("link", _NUMBERISH.sub("5", _PLACEHOLDER.sub("it", text)))
    if not prepared.strip():
        return 0.0
    return float(textstat.flesch_kincaid_grade(prepared))


def check_text(text: str) -> TextCheck:
    """Measure one participant-facing message."""
    return TextCheck(text=text, grade=reading_grade(text), characters=len(text))
