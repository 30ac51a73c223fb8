"""The one place escalations are created.

Staff alerting reads new escalations from the table (an outbox), so nothing here depends on
any outside service being up: the escalation is stored first, in the same transaction as
what caused it.

An escalation about a participant's message that is being handled a minute or more after
it arrived (the assistant was down, and the message was recovered from the message log;
or it waited behind a slow turn) says so at the start of its reason, so staff see the
delay in the alert and the console: "handled 7 min after it arrived (...)".
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import (
    Direction,
    Escalation,
    EscalationLevel,
    EscalationStatus,
    EscalationType,
    MessageLog,
)
from bot.db.types import utcnow

logger = logging.getLogger(__name__)

# Easy to read and type on a phone: no 0/O, 1/I/L.
ACK_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
ACK_CODE_LENGTH = 6
ACK_CODE_TRIES = 10


# A message handled this long after it arrived waited for the assistant.
LATE_AFTER = timedelta(minutes=1)


def latest_inbound_message_id(*, session: Session, sender_id: str) -> int | None:
    """The message-log ID of the participant's message being handled.

    Their oldest message still waiting to be handled (`bot.messaging.inbound` handles a
    participant's messages one at a time, oldest first), else their latest message.
    """
    inbound = [MessageLog.sender_id == sender_id, MessageLog.direction == Direction.INBOUND]
    waiting = session.execute(
        select(MessageLog.id)
        .where(*inbound, MessageLog.handled_at.is_(None))
        .order_by(MessageLog.id)
        .limit(1)
    ).scalar_one_or_none()
    if waiting is not None:
        return int(waiting)
    return session.execute(
        select(MessageLog.id).where(*inbound).order_by(MessageLog.id.desc()).limit(1)
    ).scalar_one_or_none()


def handling_delay(*, session: Session, message_log_id: int | None) -> timedelta | None:
    """How long ago a message being handled now arrived, if a minute or more (else None)."""
    if message_log_id is None:
        return None
    entry = session.get(MessageLog, message_log_id)
    if entry is None or entry.direction is not Direction.INBOUND or entry.handled_at is not None:
        return None
    waited = utcnow() - entry.created_at
    return waited if waited >= LATE_AFTER else None


def late_note(waited: timedelta) -> str:
    """Staff language for a message handled late."""
    minutes = int(waited.total_seconds() // 60)
    return f"handled {minutes} min after it arrived (the assistant was down or delayed)"


def new_ack_code(*, session: Session) -> str:
    """A short code no other escalation has, that staff text back as `ACK <code>`."""
    for _ in range(ACK_CODE_TRIES):
        code = "".join(secrets.choice(ACK_CODE_ALPHABET) for _ in range(ACK_CODE_LENGTH))
        taken = session.execute(select(Escalation.id).where(Escalation.ack_code == code)).first()
        if taken is None:
            return code
    raise RuntimeError("could not find a free acknowledgement code")


def raise_escalation(
    *,
    session: Session,
    participant_id: int,
    level: EscalationLevel,
    type: EscalationType,
    reason: str,
    message_log_id: int | None = None,
    trigger_message_id: str | None = None,
) -> Escalation:
    """Store an open escalation for staff; `reason` is staff language, not their words.

    When the message it is about is handled late, the reason starts by saying so.
    """
    waited = handling_delay(session=session, message_log_id=message_log_id)
    if waited is not None:
        reason = f"{late_note(waited)}; {reason}"
    escalation = Escalation(
        participant_id=participant_id,
        level=level,
        type=type,
        reason=reason,
        message_log_id=message_log_id,
        trigger_message_id=trigger_message_id,
        status=EscalationStatus.OPEN,
        ack_code=new_ack_code(session=session),
    )
    session.add(escalation)
    session.flush()
    logger.info(
        "escalation %s: %s %s for participant %s",
        escalation.id,
        level.value,
        type.value,
        participant_id,
    )
    return escalation


def open_escalations(*, session: Session, participant_id: int) -> list[Escalation]:
    """The participant's escalations staff have not resolved, newest first."""
    rows = session.execute(
        select(Escalation)
        .where(
            Escalation.participant_id == participant_id,
            Escalation.status != EscalationStatus.RESOLVED,
        )
        .order_by(Escalation.created_at.desc())
    ).scalars()
    return list(rows)
