"""Answers to a form's questions: read them, ask again once, then keep the words for staff.

A slot holding an answer stores `{"value": <what it means or None>, "text": <as typed>}`.
An answer that does not fit is asked again once with an example; a second one that does
not fit is accepted as free text (value None), so the participant is never stuck.
Answers are read in English and Spanish alike (accents optional): a participant may switch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker

from bot.core.text import fold_accents

REASKED = "reasked_slot"


@dataclass(frozen=True)
class Answer:
    """What an answer means (None: it did not fit) and the words it was given in."""

    value: Any
    text: str

    @classmethod
    def from_slot(cls, slot_value: Any) -> Answer:
        """Read an answer back from its slot."""
        if isinstance(slot_value, dict):
            return cls(slot_value.get("value"), str(slot_value.get("text") or ""))
        return cls(slot_value, "" if slot_value is None else str(slot_value))

    def as_slot(self) -> dict[str, Any]:
        """The slot value that stores this answer."""
        return {"value": self.value, "text": self.text}

    @property
    def point(self) -> int | None:
        """The answer as a point on a scale, if it is one."""
        return (
            self.value if isinstance(self.value, int) and not isinstance(self.value, bool) else None
        )

    @property
    def fits(self) -> bool:
        """True when the answer was understood."""
        return self.value is not None

    def needs_reask(self, tracker: Tracker, slot: str) -> bool:
        """True for a first answer that does not fit (a second one is kept as free text)."""
        return not self.fits and tracker.get_slot(REASKED) != slot


def read_choice(text: str, parse: Callable[[str], Any]) -> dict[str, Any]:
    """Parse a typed answer into the slot value of an Answer."""
    return Answer(parse(text), text.strip()).as_slot()


YES_WORDS = frozenset(
    {"yes", "y", "yeah", "yep", "yup", "ya", "yea", "sure", "ok", "okay", "i did", "did",
     "yes i did", "true", "correct", "right", "uh huh", "of course", "definitely"}
)  # fmt: skip
NO_WORDS = frozenset(
    {"no", "n", "nope", "nah", "naw", "not really", "no thanks", "nothing", "none",
     "i didnt", "i did not", "didnt", "did not", "nothing new", "all good", "no i didnt",
     "not today", "nothing else", "no questions", "no question"}
)  # fmt: skip
# Spanish, as typed (no accents: answers are compared with accents folded).
YES_WORDS_ES = frozenset(
    {"si", "sip", "sep", "simon", "claro", "claro que si", "aja", "ajam", "asi es",
     "por supuesto", "obvio", "de acuerdo", "esta bien", "dale", "va", "sale", "orale",
     "cierto", "correcto", "ya la tome", "ya lo tome", "ya me la tome", "si senor",
     "si senora", "pues si", "creo que si"}
)  # fmt: skip
NO_WORDS_ES = frozenset(
    {"nop", "nel", "nel pastel", "nada", "para nada", "nada nuevo", "nada mas", "ninguna",
     "ninguno", "todo bien", "estoy bien", "todavia no", "aun no", "tampoco", "negativo",
     "creo que no", "pues no", "ya no", "no gracias"}
)  # fmt: skip
_PUNCTUATION = re.compile(r"[^\w\s/-]")
YES_PREFIXES = ("yes ", "yeah ", "yep ", "si ")
NO_PREFIXES = ("no ", "nope ", "nah ", "nel ")


def words_of(text: str) -> str:
    """An answer as plain words: lower case, no accents, apostrophes or punctuation.

    "¡Sí, la tomé!" -> "si la tome"; "didn't" -> "didnt"; "so-so" and "24/7" stay.
    """
    plain = fold_accents(text.lower()).replace("'", "").replace("\u2019", "")
    return " ".join(_PUNCTUATION.sub(" ", plain).split())


def read_yes_no(text: str) -> bool | None:
    """Yes -> True, no -> False (English or Spanish: "sí", "simón", "nel"), else None."""
    words = words_of(text)
    if words in YES_WORDS or words in YES_WORDS_ES or words.startswith(YES_PREFIXES):
        return True
    if words in NO_WORDS or words in NO_WORDS_ES or words.startswith(NO_PREFIXES):
        return False
    return None
