"""The one place escalations are created.

Staff alerting reads new escalations from the table (an outbox), so nothing here depends on
any outside service being up: the escalation is stored first, in the same transaction as
what caused it.
"""

from __future__ import annotations

import logging
import secrets

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

logger = logging.getLogger(__name__)

# Easy to read and type on a phone: no 0/O, 1/I/L.
ACK_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
ACK_CODE_LENGTH = 6
ACK_CODE_TRIES = 10


def latest_inbound_message_id(*, session: Session, sender_id: str) -> int | None:
    """The message-log ID of the participant's latest message (the one being handled)."""
    return session.execute(
        select(MessageLog.id)
        .where(MessageLog.sender_id == sender_id, MessageLog.direction == Direction.INBOUND)
        .order_by(MessageLog.id.desc())
        .limit(1)
    ).scalar_one_or_none()


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
    """Store an open escalation for staff; `reason` is staff language, not their words."""
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
