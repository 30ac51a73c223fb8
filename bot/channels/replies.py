"""The texts a channel sends on its own (keyword answers, "text only"), in a language."""

from __future__ import annotations

from bot.study.config import current_study
from bot.study.wording import messages


def channel_texts(key: str, language: str) -> list[str]:
    """The current study's wording for `key` (bot.study.wording) in `language` ("en", "es")."""
    return messages(current_study(), key, language=language)
