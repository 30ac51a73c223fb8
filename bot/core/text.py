"""Typed answers as plain comparable words, in any of the participants' languages."""

from __future__ import annotations

import unicodedata


def fold_accents(text: str) -> str:
    """The text without accents or tildes, as people often type it: "sí, más" -> "si, mas"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))
