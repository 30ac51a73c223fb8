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
from collections.abc import Collection, Sequence
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
from bot.outreach.repository import sent_prompt_times_of

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
    return missed_in_a_row_of(session=session, participant_ids=[participant_id], limit=limit).get(
        participant_id, 0
    )


def missed_in_a_row_of(
    *, session: Session, participant_ids: Collection[int], limit: int
) -> dict[int, int]:
    """`missed_in_a_row` for many participants, in two statements: their latest sent
    prompts, then their check-ins completed since the oldest of those."""
    sent = sent_prompt_times_of(session=session, participant_ids=participant_ids, limit=limit + 1)
    judged = {participant_id: times for participant_id, times in sent.items() if len(times) > 1}
    if not judged:
        return {}
    completed: dict[int, list[datetime]] = {}
    rows = session.execute(
        select(Checkin.participant_id, Checkin.completed_at).where(
            Checkin.participant_id.in_(list(judged)),
            Checkin.status == CheckinStatus.COMPLETED,
            Checkin.completed_at >= min(times[-1] for times in judged.values()),
        )
    )
    for participant_id, completed_at in rows:
        if completed_at is not None:
            completed.setdefault(participant_id, []).append(completed_at)
    return {
        participant_id: _missed(times, completed.get(participant_id, []))
        for participant_id, times in judged.items()
    }


def _missed(sent: Sequence[datetime], completed: Sequence[datetime]) -> int:
    """Prompts missed in a row: `sent` newest first, each judged by whether a check-in was
    completed between it and the next one."""
    missed = 0
    for newer, older in pairwise(sent):
        if any(older <= at < newer for at in completed):
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
    flagged = flag_all_if_at_risk(
        session=session, participant_ids=[participant_id], threshold=threshold, now=now
    )
    return flagged.get(participant_id)


def flag_all_if_at_risk(
    *, session: Session, participant_ids: Collection[int], threshold: int, now: datetime
) -> dict[int, int]:
    """`flag_if_at_risk` for many participants (their misses counted in two statements);
    the escalation raised for each one flagged now."""
    if threshold <= 0 or not participant_ids:
        return {}
    raised = {}
    misses = missed_in_a_row_of(session=session, participant_ids=participant_ids, limit=threshold)
    for participant_id, missed in misses.items():
        if missed < threshold:
            continue
        flagged = session.execute(
            update(Participant)
            .where(Participant.id == participant_id, Participant.at_risk_since.is_(None))
            .values(at_risk_since=now)
            .execution_options(synchronize_session=False)
        )
        if flagged.rowcount != 1:
            continue
        escalation = raise_escalation(
            session=session,
            participant_id=participant_id,
            level=EscalationLevel.ROUTINE,
            type=EscalationType.OTHER,
            reason=f"missed {missed} check-ins in a row: at risk of dropping out",
        )
        logger.warning("participant %s at risk of dropping out (%s missed)", participant_id, missed)
        raised[participant_id] = escalation.id
    return raised


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
