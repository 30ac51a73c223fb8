"""The languages participants can use: codes, names, and reading a code safely."""

from __future__ import annotations

from typing import Final

ENGLISH: Final = "en"
SPANISH: Final = "es"
LANGUAGES: Final = (ENGLISH, SPANISH)
DEFAULT_LANGUAGE: Final = ENGLISH

# How each language is named to staff (console, exports) and to participants (switch).
STAFF_NAMES: Final = {ENGLISH: "English", SPANISH: "Spanish"}
OWN_NAMES: Final = {ENGLISH: "English", SPANISH: "Español"}

# The Rasa slot (and NLU entity) that carries the participant's language in a conversation.
LANGUAGE_SLOT: Final = "language"


def language_or_default(code: object) -> str:
    """A supported language code for any value: "es" or "ES-mx" -> "es"; unknown -> "en"."""
    text = str(code or "").strip().lower()[:2]
    return text if text in LANGUAGES else DEFAULT_LANGUAGE
