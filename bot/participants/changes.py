"""Staff changing a participant's details: status, language, time zone, check-in time.

`change_participant` checks and applies the new values and returns what changed, old and
new, for the caller to audit with the reason the staff member gave (the console audits it
in the same transaction). Only the fields given are looked at.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import time

from sqlalchemy.orm import Session

from bot.core.languages import LANGUAGES
from bot.db.models import Participant, ParticipantStatus
from bot.participants.enrollment import EnrollmentError, check_timezone
from bot.participants.language import FROM_ENROLLMENT, set_language

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Changes:
    """What changed, field by field (staff words: never an address)."""

    old: dict[str, object]
    new: dict[str, object]

    def __bool__(self) -> bool:
        return bool(self.new)


def _clock(value: time | None) -> str | None:
    return f"{value:%H:%M}" if value is not None else None


def change_participant(
    *,
    session: Session,
    participant: Participant,
    status: ParticipantStatus | None = None,
    language: str | None = None,
    timezone_name: str | None = None,
    checkin_time: time | None = None,
    clear_checkin_time: bool = False,
) -> Changes:
    """Apply the values given that differ from the participant's; EnrollmentError when one
    is not valid (nothing is changed then). `clear_checkin_time`: back to the study's."""
    if language is not None and language not in LANGUAGES:
        raise EnrollmentError("choose the language: English or Español")
    if timezone_name is not None:
        timezone_name = check_timezone(timezone_name.strip())
    old: dict[str, object] = {}
    new: dict[str, object] = {}

    def note(field: str, before: object, after: object) -> None:
        if before != after:
            old[field], new[field] = before, after

    if status is not None:
        note("status", participant.status.value, status.value)
        participant.status = status
    if language is not None:
        note("language", participant.language, language)
        set_language(participant=participant, language=language, source=FROM_ENROLLMENT)
    if timezone_name is not None:
        note("timezone", participant.timezone, timezone_name)
        participant.timezone = timezone_name
    if checkin_time is not None or clear_checkin_time:
        note("checkin_time", _clock(participant.preferred_contact_time), _clock(checkin_time))
        participant.preferred_contact_time = checkin_time
    session.flush()
    if new:
        logger.info("participant %s changed: %s", participant.id, ", ".join(new))
    return Changes(old=old, new=new)
