"""What an emergency gets: the study's emergency reply and one emergency escalation.

Used by `action_emergency` (the dialogue's answer) and by the turn guard (the channel
layer's answer when the dialogue did not give one), so both say the same words and a
message never gets two emergency escalations.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.languages import DEFAULT_LANGUAGE, LANGUAGES
from bot.db.models import Escalation, EscalationLevel, EscalationType
from bot.escalation.records import raise_escalation
from bot.study.config import StudyConfig
from bot.study.wording import messages

logger = logging.getLogger(__name__)

SELF_HARM = "self_harm"
MODEL_ONLY_REASON = "emergency reported (recognised by the language model)"


def wording_key(categories: Iterable[str]) -> str:
    """The wording an emergency gets: the crisis line for self-harm, else the emergency number."""
    return "emergency_self_harm" if SELF_HARM in set(categories) else "emergency"


def emergency_texts(
    study: StudyConfig, categories: Iterable[str], language: str = DEFAULT_LANGUAGE
) -> list[str]:
    """The study's emergency reply for these red-flag categories, in the participant's language."""
    return messages(study, wording_key(categories), language=language)


def emergency_replies(study: StudyConfig, categories: Iterable[str]) -> list[list[str]]:
    """The emergency reply for these categories in every language (each one a full reply)."""
    keys = list(categories)
    return [emergency_texts(study, keys, language) for language in LANGUAGES]


def reason_for(categories: Sequence[str]) -> str:
    """Staff language for the escalation (kept inside the system; never sent in an alert)."""
    if not categories:
        return MODEL_ONLY_REASON
    return "red flag: " + ", ".join(category.replace("_", " ") for category in categories)


def emergency_for_message(*, session: Session, trigger_message_id: str) -> Escalation | None:
    """The emergency escalation already stored for this message, if any."""
    return session.execute(
        select(Escalation).where(
            Escalation.type == EscalationType.EMERGENCY,
            Escalation.trigger_message_id == trigger_message_id,
        )
    ).scalar_one_or_none()


def record_emergency(
    *,
    session: Session,
    participant_id: int,
    categories: Sequence[str],
    trigger_message_id: str | None,
    message_log_id: int | None = None,
    reason: str | None = None,
) -> tuple[Escalation, bool]:
    """Store the emergency escalation for one message, once; (escalation, newly stored).

    A unique index on (trigger message, emergency) makes "once" hold even when the
    dialogue and the channel layer store it at the same moment: the later one fails with
    IntegrityError, and run again (`bot.safety.emergency.store_once`) it finds the first.
    No savepoint: on SQLite a savepoint opens a read snapshot that cannot become a write
    while another process writes ("database is locked").
    """
    if trigger_message_id:
        existing = emergency_for_message(session=session, trigger_message_id=trigger_message_id)
        if existing is not None:
            return existing, False
    escalation = raise_escalation(
        session=session,
        participant_id=participant_id,
        level=EscalationLevel.EMERGENCY,
        type=EscalationType.EMERGENCY,
        reason=reason or reason_for(categories),
        message_log_id=message_log_id,
        trigger_message_id=trigger_message_id,
    )
    return escalation, True
