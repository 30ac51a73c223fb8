"""Whole-message keywords the channels answer themselves, before the assistant sees them.

HELP and INFO (any case, the whole message, a trailing "!" or "." allowed) get the study
contact, the nurse line and the emergency number, and no escalation: HELP is a word
participants are told to use (on SMS the carriers require it to return the study
contact), not an emergency. "help me i cant breathe" is not a keyword: it goes to the
assistant, and the red-flag check makes it an emergency.

STOP words opt a participant out of everything the assistant sends on its own; START
words opt them back in. The web chat sends nothing on its own, so STOP there only says so.
"""

from __future__ import annotations

import enum
import re


class Keyword(enum.Enum):
    """What a keyword message asks for."""

    HELP = "help"
    STOP = "stop"
    START = "start"


Words = dict[Keyword, frozenset[str]]

# SMS: the carriers' opt-out, opt-in and help words.
SMS_WORDS: Words = {
    Keyword.HELP: frozenset({"HELP", "INFO"}),
    Keyword.STOP: frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}),
    Keyword.START: frozenset({"START", "UNSTOP"}),
}
# The web chat: "cancel", "end" and "quit" go to the assistant (they may mean the check-in).
WEB_WORDS: Words = {
    Keyword.HELP: SMS_WORDS[Keyword.HELP],
    Keyword.STOP: frozenset({"STOP", "STOPALL", "UNSUBSCRIBE"}),
}
_TRAILING = re.compile(r"[\s.!]+$")


def keyword_of(text: str, words: Words = SMS_WORDS) -> Keyword | None:
    """The keyword a whole message is, or None for anything else."""
    word = _TRAILING.sub("", text.strip()).upper()
    return next((keyword for keyword, listed in words.items() if word in listed), None)
