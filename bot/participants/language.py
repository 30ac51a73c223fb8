"""A participant's language: set at enrollment, detected from their first words, changed on request.

`participants.language` is the language of record for everything the assistant sends them
(replies, proactive messages, notices); `participants.language_source` says where it came
from: "enrollment" (staff chose it), "detected" (from the participant's first message with
words in it), "participant" (they asked: "español", "english", "cambiar idioma", or the web
chat's switch), or None: not known yet, so the next message is read for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.core.languages import DEFAULT_LANGUAGE, LANGUAGES
from bot.db.models import Participant
from bot.nlp.language import detect_language, requested_language

logger = logging.getLogger(__name__)

FROM_ENROLLMENT = "enrollment"
DETECTED = "detected"
FROM_PARTICIPANT = "participant"


@dataclass(frozen=True)
class LanguageTurn:
    """The language of one turn, and whether the message was a request to change it."""

    language: str
    changed_to: str | None = None


def set_language(*, participant: Participant, language: str, source: str) -> bool:
    """Store a participant's language; True when it changed."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
    changed = participant.language != language
    if changed or participant.language_source is None:
        logger.info(
            "participant %s: language %s -> %s (%s)",
            participant.study_id,
            participant.language,
            language,
            source,
        )
    participant.language = language
    participant.language_source = source
    return changed


def settle_language(
    *, session: Session, participant: Participant, text: str, chosen: str | None = None
) -> LanguageTurn:
    """The language for this message of the participant's, storing what it changes.

    `chosen` is a channel's explicit choice (the web chat's switch). A whole-message
    request ("español") changes the language and is answered with a confirmation instead
    of a turn; a participant whose language is not known yet gets it from their words.
    """
    if chosen in LANGUAGES and (
        chosen != participant.language or participant.language_source is None
    ):
        set_language(participant=participant, language=str(chosen), source=FROM_PARTICIPANT)
    requested = requested_language(text, current=participant.language)
    if requested is not None:
        set_language(participant=participant, language=requested, source=FROM_PARTICIPANT)
        session.flush()
        return LanguageTurn(requested, changed_to=requested)
    if participant.language_source is None:
        detected = detect_language(text)
        if detected is not None:
            set_language(participant=participant, language=detected, source=DETECTED)
    session.flush()
    return LanguageTurn(participant.language or DEFAULT_LANGUAGE)
