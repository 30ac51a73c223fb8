"""Who replied, who missed check-ins, and who is at risk of dropping out.

- Replied: any inbound message from the participant, or a completed check-in, since a time.
- Missed check-in: a sent prompt with no check-in completed before the next sent prompt.
  It is judged when the next prompt goes out.
- At risk: `missed_in_a_row_for_risk` missed in a row. `participant.at_risk_since` is set
  (with a conditional UPDATE, so only once) and ONE routine escalation is stored for
  staff. A check-in completed after that clears `at_risk_since`; the streak starts again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from itertools import pairwise

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from bot.db.models import (
    Checkin,
    CheckinStatus,
    Direction,
    EscalationLevel,
    EscalationType,
    MessageLog,
    Participant,
)
from bot.escalation.records import raise_escalation
from bot.outreach.repository import sent_prompt_times

logger = logging.getLogger(__name__)


def completed_checkin_between(
    *, session: Session, participant_id: int, start: datetime, end: datetime | None = None
) -> bool:
    """True when the participant completed a check-in at or after `start` (and before `end`)."""
    query = select(Checkin.id).where(
        Checkin.participant_id == participant_id,
        Checkin.status == CheckinStatus.COMPLETED,
        Checkin.completed_at >= start,
    )
    if end is not None:
        query = query.where(Checkin.completed_at < end)
    return session.execute(query.limit(1)).first() is not None


def replied_since(*, session: Session, participant: Participant, since: datetime) -> bool:
    """True when the participant wrote anything, or completed a check-in, since `since`."""
    inbound = session.execute(
        select(MessageLog.id)
        .where(
            or_(
                MessageLog.participant_id == participant.id,
                MessageLog.sender_id == participant.sender_id,
            ),
            MessageLog.direction == Direction.INBOUND,
            MessageLog.created_at >= since,
        )
        .limit(1)
    ).first()
    if inbound is not None:
        return True
    return completed_checkin_between(session=session, participant_id=participant.id, start=since)


def missed_in_a_row(*, session: Session, participant_id: int, limit: int) -> int:
    """How many of the latest sent prompts (up to `limit`, before the newest) were missed."""
    sent = sent_prompt_times(session=session, participant_id=participant_id, limit=limit + 1)
    missed = 0
    for newer, older in pairwise(sent):
        if completed_checkin_between(
            session=session, participant_id=participant_id, start=older, end=newer
        ):
            break
        missed += 1
    return missed


def flag_if_at_risk(
    *, session: Session, participant_id: int, threshold: int, now: datetime
) -> int | None:
    """Flag the participant and raise one routine escalation after `threshold` misses.

    Returns the escalation's ID, or None when nothing was raised (not enough misses, or
    already flagged).
    """
    if threshold <= 0:
        return None
    missed = missed_in_a_row(session=session, participant_id=participant_id, limit=threshold)
    if missed < threshold:
        return None
    flagged = session.execute(
        update(Participant)
        .where(Participant.id == participant_id, Participant.at_risk_since.is_(None))
        .values(at_risk_since=now)
        .execution_options(synchronize_session=False)
    )
    if flagged.rowcount != 1:
        return None
    escalation = raise_escalation(
        session=session,
        participant_id=participant_id,
        level=EscalationLevel.ROUTINE,
        type=EscalationType.OTHER,
        reason=f"missed {missed} check-ins in a row: at risk of dropping out",
    )
    logger.warning("participant %s at risk of dropping out (%s missed)", participant_id, missed)
    return escalation.id


def clear_recovered(*, session: Session) -> list[int]:
    """Clear `at_risk_since` of participants who completed a check-in since; their IDs."""
    completed_since = exists().where(
        Checkin.participant_id == Participant.id,
        Checkin.status == CheckinStatus.COMPLETED,
        Checkin.completed_at >= Participant.at_risk_since,
    )
    ids = list(
        session.execute(
            select(Participant.id).where(Participant.at_risk_since.is_not(None), completed_since)
        ).scalars()
    )
    if ids:
        session.execute(
            update(Participant)
            .where(Participant.id.in_(ids))
            .values(at_risk_since=None)
            .execution_options(synchronize_session=False)
        )
        for participant_id in ids:
            logger.info("participant %s checked in again: no longer at risk", participant_id)
    return ids
