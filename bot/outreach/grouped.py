"""What a group of due check-in prompts needs to know, asked once for the whole group.

The outreach worker sends the openings of scheduled check-ins in groups
(`bot.outreach.worker.OPENING_GROUP`). Asking each prompt's questions one by one (is an
earlier message of the participant's still unsent, did they check in lately, is their
conversation idle in the project's tables and in Rasa's) costs a dozen statements per
prompt, which is most of a worker's time when a study's participants share a check-in
time. Here each question is one statement for the whole group (`facts`), and the answers
(`GroupFacts`) are read in Python by the worker's own checks.

The answers are the same as the one-by-one queries' (`bot.outreach.repository
.earlier_unsent`, `bot.outreach.engagement.completed_checkin_between`,
`bot.outreach.deferred.idle_for_opening`), asked in the same transaction; tests hold
both to the same cases. A prompt whose answer is not a clean "send the opening now"
is left to the one-by-one path, which asks again and decides (wait, skip, or Rasa's
turn at due time).

The records after the sends are grouped too (`record_sends`, `finish_sent`; the turns:
`deferred.hold_all`, `arm_all`, `drop_all`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, literal, or_, select, update
from sqlalchemy.orm import Session, aliased

from bot.db.models import (
    Checkin,
    CheckinStatus,
    DeferredTurn,
    Handoff,
    MessageLog,
    OutreachStatus,
    Participant,
    ScheduledMessage,
    tracker_events,
)
from bot.messaging.delivery import SENT_COLUMNS, Tried, sent_values
from bot.outreach import deferred
from bot.outreach.repository import HANDOVER


@dataclass
class GroupFacts:
    """The answers for one group of claimed messages (see the module docstring)."""

    messages: dict[int, ScheduledMessage] = field(default_factory=dict)
    participants: dict[int, Participant] = field(default_factory=dict)
    # Messages with an earlier message of the participant's still pending or sending.
    must_wait: set[int] = field(default_factory=set)
    # Participants who completed a check-in since `recent`.
    checked_in: set[int] = field(default_factory=set)
    # Why a participant's conversation is not idle (absent: idle).
    busy: dict[int, str] = field(default_factory=dict)


def facts(
    *,
    session: Session,
    message_ids: Collection[int],
    now: datetime,
    recent: timedelta,
    rasa_store: bool,
) -> GroupFacts:
    """Load the group's messages and participants, and answer every check for all of them
    in one statement each (seven in all; Rasa's two only when `rasa_store`)."""
    found = GroupFacts()
    if not message_ids:
        return found
    ids = list(message_ids)
    found.messages = {
        message.id: message
        for message in session.execute(
            select(ScheduledMessage).where(ScheduledMessage.id.in_(ids))
        ).scalars()
    }
    participant_ids = sorted({message.participant_id for message in found.messages.values()})
    if not participant_ids:
        return found
    found.participants = {
        participant.id: participant
        for participant in session.execute(
            select(Participant).where(Participant.id.in_(participant_ids))
        ).scalars()
    }
    found.must_wait = _must_wait(session, ids, now)
    found.checked_in = set(
        session.execute(
            select(Checkin.participant_id)
            .where(
                Checkin.participant_id.in_(participant_ids),
                Checkin.status == CheckinStatus.COMPLETED,
                Checkin.completed_at >= now - recent,
            )
            .distinct()
        ).scalars()
    )
    found.busy = _busy_in_project(session, participant_ids, now)
    if rasa_store:
        senders = {
            participant.sender_id: participant.id
            for participant in found.participants.values()
            if participant.id not in found.busy
        }
        for sender_id, why in _busy_in_rasa(session, list(senders)).items():
            found.busy[senders[sender_id]] = why
    else:
        for participant_id in participant_ids:
            found.busy.setdefault(participant_id, deferred.NO_RASA_STORE)
    return found


def _must_wait(session: Session, message_ids: list[int], now: datetime) -> set[int]:
    """The messages with another of the participant's, due before them (and by `now`),
    still pending or being sent (`repository.earlier_unsent`, for many)."""
    message, other = ScheduledMessage, aliased(ScheduledMessage)
    earlier = or_(
        other.due_at < message.due_at,
        and_(other.due_at == message.due_at, other.id < message.id),
    )
    rows = session.execute(
        select(message.id)
        .join(other, other.participant_id == message.participant_id)
        .where(
            message.id.in_(message_ids),
            other.id != message.id,
            other.status.in_([OutreachStatus.PENDING, OutreachStatus.SENDING]),
            other.due_at <= now,
            earlier,
        )
        .distinct()
    ).scalars()
    return set(rows)


def _busy_in_project(session: Session, participant_ids: list[int], now: datetime) -> dict[int, str]:
    """Why each participant's conversation is not idle by the project's tables (the first
    of `deferred.BUSY` that holds), in one statement."""
    handoffs = select(Handoff.participant_id.label("participant_id"), _label(0)).where(
        Handoff.participant_id.in_(participant_ids), Handoff.ended_at.is_(None)
    )
    waiting = select(DeferredTurn.participant_id.label("participant_id"), _label(1)).where(
        DeferredTurn.participant_id.in_(participant_ids),
        DeferredTurn.status.in_(deferred.OPEN),
    )
    unfinished = select(Checkin.participant_id.label("participant_id"), _label(2)).where(
        Checkin.participant_id.in_(participant_ids),
        Checkin.status.in_((CheckinStatus.IN_PROGRESS, CheckinStatus.PAUSED)),
        Checkin.started_at >= now - deferred.RESUME_WITHIN,
    )
    busy: dict[int, int] = {}
    for participant_id, reason in session.execute(handoffs.union_all(waiting, unfinished)):
        busy[participant_id] = min(reason, busy.get(participant_id, reason))
    return {participant_id: deferred.BUSY[reason] for participant_id, reason in busy.items()}


def _label(index: int) -> Any:
    """Which of `deferred.BUSY` a row of `_busy_in_project` stands for."""
    return literal(index).label("reason")


def _busy_in_rasa(session: Session, sender_ids: list[str]) -> dict[str, str]:
    """Why each conversation in Rasa's SQL tracker store is not idle (absent: idle), from
    its latest form event and its latest pause or resume (`deferred._rasa_state`, for
    many): one statement for each kind of event."""
    if not sender_ids:
        return {}
    events = tracker_events.c
    busy: dict[str, str] = {}
    for types in (deferred.LOOP_EVENTS, deferred.PAUSE_EVENTS):
        latest = (
            select(func.max(events.id).label("id"))
            .where(events.sender_id.in_(sender_ids), events.type_name.in_(types))
            .group_by(events.sender_id)
            .subquery()
        )
        rows = session.execute(
            select(events.sender_id, events.type_name, events.action_name).where(
                events.id.in_(select(latest.c.id))
            )
        )
        for sender_id, type_name, action_name in rows:
            why = deferred.busy_because(type_name, action_name)
            if why is not None:
                busy.setdefault(sender_id, why)
    return busy


# --- handing over and recording ---------------------------------------------------------


def hand_over_all(
    *,
    session: Session,
    handovers: Mapping[int, dict[str, Any]],
    messages: Mapping[int, ScheduledMessage],
    token: str,
    now: datetime,
) -> set[int]:
    """Note on each claimed message what is about to go out (`repository.hand_over`, for
    many: one UPDATE for all, then one read of which ones this token still holds). The
    IDs handed over; the others' claims were lost: do not send them."""
    if not handovers:
        return set()
    table = ScheduledMessage.__table__
    session.execute(
        update(table)
        .where(
            table.c.id == bindparam("message_id"),
            table.c.status == OutreachStatus.SENDING,
            table.c.claimed_by == token,
        )
        .values(detail=bindparam("new_detail"), claimed_at=now),
        [
            {
                "message_id": message_id,
                "new_detail": {**(messages[message_id].detail or {}), HANDOVER: handover},
            }
            for message_id, handover in handovers.items()
        ],
    )
    held = session.execute(
        select(ScheduledMessage.id).where(
            ScheduledMessage.id.in_(list(handovers)),
            ScheduledMessage.status == OutreachStatus.SENDING,
            ScheduledMessage.claimed_by == token,
            ScheduledMessage.claimed_at == now,
        )
    ).scalars()
    return set(held)


def record_sends(*, session: Session, tried: Iterable[Tried]) -> None:
    """Write each send's result to its log row (`delivery.record_tried`, for many): one
    UPDATE."""
    rows = [
        {
            "log_id": result.log_id,
            **{f"new_{name}": value for name, value in sent_values(result).items()},
        }
        for result in tried
    ]
    if not rows:
        return
    table = MessageLog.__table__
    session.execute(
        update(table)
        .where(table.c.id == bindparam("log_id"))
        .values({name: bindparam(f"new_{name}") for name in SENT_COLUMNS}),
        rows,
    )


def finish_sent(
    *, session: Session, message_ids: Collection[int], token: str, sent_at: datetime
) -> None:
    """Record claimed messages as sent with no note (`repository.finish`, for many)."""
    if not message_ids:
        return
    session.execute(
        update(ScheduledMessage)
        .where(
            ScheduledMessage.id.in_(list(message_ids)),
            ScheduledMessage.status == OutreachStatus.SENDING,
            ScheduledMessage.claimed_by == token,
        )
        .values(status=OutreachStatus.SENT, note=None, sent_at=sent_at)
        .execution_options(synchronize_session=False)
    )
