"""Reads and writes of the due-jobs table (`scheduled_messages`). Keyword-only, bound parameters.

A row goes pending -> sending (claimed by one worker with a conditional UPDATE that writes
its token and `claimed_at`) -> sent, skipped or failed. Only a claim moves a row out of
pending, and only the claim's holder records its result (every later UPDATE names the
token), so two workers never send the same message. `claim_due` claims a batch in one
statement: on PostgreSQL its rows are picked with `FOR UPDATE SKIP LOCKED`, so workers
claiming at the same moment take different rows instead of waiting for each other; on
SQLite, where one writer at a time holds the database, the conditional UPDATE does it. A
claim is a lease: a row still 'sending' once `claimed_at + lease` has passed belongs to a
worker that stopped; another worker takes it over (`take_over`) and reconciles it from
the message log.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.db.models import Direction, MessageLog, OutreachStatus, ScheduledMessage

_CHUNK = 500
# The `detail` key of what a claimed message was about to send (see `hand_over`).
HANDOVER = "handover"


class Kind(str, enum.Enum):
    """What a scheduled message is."""

    CHECKIN_PROMPT = "checkin_prompt"
    CHECKIN_NUDGE = "checkin_nudge"
    VISIT_REMINDER = "visit_reminder"
    DOSE_REMINDER = "dose_reminder"
    # Thanks for a milestone bonus, then a request for feedback (bot/participants/incentives.py).
    MILESTONE = "milestone"


@dataclass(frozen=True)
class Planned:
    """One message a participant should get, and when (UTC)."""

    participant_id: int
    kind: Kind
    due_at: datetime
    dedupe_key: str
    detail: dict[str, Any] = field(default_factory=dict)


def insert_planned(*, session: Session, items: Sequence[Planned], now: datetime) -> int:
    """Insert messages, ignoring any whose dedupe_key exists; returns how many were new."""
    added = 0
    for start in range(0, len(items), _CHUNK):
        rows = [
            {
                "participant_id": item.participant_id,
                "kind": item.kind.value,
                "due_at": item.due_at,
                "dedupe_key": item.dedupe_key,
                "status": OutreachStatus.PENDING,
                "detail": item.detail,
                "attempts": 0,
                "created_at": now,
            }
            for item in items[start : start + _CHUNK]
        ]
        statement = (
            _insert(session).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        added += max(int(session.execute(statement).rowcount), 0)
    return added


def _dialect(session: Session) -> str:
    """The session's database: "postgresql" or "sqlite"."""
    return str(session.get_bind().dialect.name)


def _insert(session: Session) -> Any:
    """INSERT for the session's database, with its ON CONFLICT DO NOTHING."""
    dialect = _dialect(session)
    if dialect == "postgresql":
        return postgresql.insert(ScheduledMessage)
    if dialect == "sqlite":
        return sqlite.insert(ScheduledMessage)
    raise RuntimeError(f"outreach supports SQLite and PostgreSQL, not {dialect}")


def due_message_ids(*, session: Session, now: datetime, limit: int = 100) -> list[int]:
    """Pending messages due by `now`, oldest first."""
    rows = session.execute(
        select(ScheduledMessage.id)
        .where(ScheduledMessage.status == OutreachStatus.PENDING, ScheduledMessage.due_at <= now)
        .order_by(ScheduledMessage.due_at, ScheduledMessage.id)
        .limit(limit)
    ).scalars()
    return list(rows)


@dataclass(frozen=True)
class Claimed:
    """A message a worker claimed: its ID and whose it is."""

    id: int
    participant_id: int


def claim_due(
    *,
    session: Session,
    now: datetime,
    token: str,
    limit: int,
    skip: Collection[int] = (),
) -> list[Claimed]:
    """Claim up to `limit` pending messages due by `now` (oldest first, not those in
    `skip`) for the worker with this token; the claimed ones, oldest first.

    A row another worker is claiming at the same moment is left to it (PostgreSQL: SKIP
    LOCKED; SQLite serialises writers), so each row is claimed by one worker only.
    """
    postgres = _dialect(session) == "postgresql"
    candidates = select(ScheduledMessage.id).where(
        ScheduledMessage.status == OutreachStatus.PENDING, ScheduledMessage.due_at <= now
    )
    if skip:
        candidates = candidates.where(ScheduledMessage.id.not_in(list(skip)))
    candidates = candidates.order_by(ScheduledMessage.due_at, ScheduledMessage.id).limit(limit)
    if postgres:
        candidates = candidates.with_for_update(skip_locked=True)
    # A CTE, not `IN (subquery)`: PostgreSQL may run a LIMIT subquery more than once in
    # an UPDATE (then SKIP LOCKED lets it take more rows than the limit); a CTE that locks
    # rows runs once.
    due = candidates.cte("due")
    statement = (
        update(ScheduledMessage)
        .add_cte(due)
        .where(
            ScheduledMessage.id.in_(select(due.c.id)),
            ScheduledMessage.status == OutreachStatus.PENDING,
        )
        .values(
            status=OutreachStatus.SENDING,
            attempts=ScheduledMessage.attempts + 1,
            claimed_by=token,
            claimed_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    columns = (ScheduledMessage.id, ScheduledMessage.participant_id, ScheduledMessage.due_at)
    if postgres:
        rows = session.execute(statement.returning(*columns)).all()
    else:
        # SQLAlchemy 1.4 has no RETURNING for SQLite: read back what this token holds. The
        # worker settles every claim of a batch before it claims the next, so these are
        # the rows just claimed.
        session.execute(statement)
        rows = session.execute(
            select(*columns).where(
                ScheduledMessage.status == OutreachStatus.SENDING,
                ScheduledMessage.claimed_by == token,
                ScheduledMessage.claimed_at == now,
            )
        ).all()
    ordered = sorted(rows, key=lambda row: (row.due_at, row.id))
    return [Claimed(row.id, row.participant_id) for row in ordered]


def earlier_unsent(*, session: Session, message: ScheduledMessage, now: datetime) -> bool:
    """True when another of the participant's messages, due before this one, is still
    pending or being sent (by another worker): this one must wait for it."""
    earlier = or_(
        ScheduledMessage.due_at < message.due_at,
        and_(ScheduledMessage.due_at == message.due_at, ScheduledMessage.id < message.id),
    )
    found = session.execute(
        select(ScheduledMessage.id)
        .where(
            ScheduledMessage.participant_id == message.participant_id,
            ScheduledMessage.id != message.id,
            ScheduledMessage.status.in_([OutreachStatus.PENDING, OutreachStatus.SENDING]),
            ScheduledMessage.due_at <= now,
            earlier,
        )
        .limit(1)
    ).first()
    return found is not None


def get_message(*, session: Session, message_id: int) -> ScheduledMessage | None:
    """A scheduled message by ID."""
    return session.get(ScheduledMessage, message_id)


def _held(message_id: int, token: str) -> list[ColumnElement]:
    """The message is 'sending' under this token's claim."""
    return [
        ScheduledMessage.id == message_id,
        ScheduledMessage.status == OutreachStatus.SENDING,
        ScheduledMessage.claimed_by == token,
    ]


def hand_over(
    *, session: Session, message_id: int, token: str, now: datetime, handover: dict[str, Any]
) -> bool:
    """Note, before a claimed message is sent, what is about to go out (`detail["handover"]`).

    The lease runs from now. False when the claim is no longer this token's: do not send.
    """
    message = session.get(ScheduledMessage, message_id)
    if message is None:
        return False
    detail = {**(message.detail or {}), HANDOVER: handover}
    result = session.execute(
        update(ScheduledMessage)
        .where(*_held(message_id, token))
        .values(detail=detail, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def release(*, session: Session, message_id: int, token: str, note: str) -> None:
    """Put a claimed message back to pending: it certainly was not sent."""
    session.execute(
        update(ScheduledMessage)
        .where(*_held(message_id, token))
        .values(status=OutreachStatus.PENDING, note=note, claimed_by=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )


def finish(
    *,
    session: Session,
    message_id: int,
    token: str,
    status: OutreachStatus,
    note: str | None = None,
    sent_at: datetime | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record how a claimed message ended (sent, skipped or failed)."""
    values: dict[str, Any] = {"status": status, "note": note}
    if sent_at is not None:
        values["sent_at"] = sent_at
    if detail is not None:
        values["detail"] = detail
    session.execute(
        update(ScheduledMessage)
        .where(*_held(message_id, token))
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _expired(now: datetime, lease: timedelta) -> ColumnElement:
    return (ScheduledMessage.status == OutreachStatus.SENDING) & (
        ScheduledMessage.claimed_at.is_(None) | (ScheduledMessage.claimed_at <= now - lease)
    )


def expired_claims(*, session: Session, now: datetime, lease: timedelta) -> list[int]:
    """Messages still 'sending' past their lease: their worker stopped mid-send."""
    rows = session.execute(
        select(ScheduledMessage.id).where(_expired(now, lease)).order_by(ScheduledMessage.id)
    ).scalars()
    return list(rows)


def take_over(
    *, session: Session, message_id: int, token: str, now: datetime, lease: timedelta
) -> ScheduledMessage | None:
    """Claim a message whose lease ran out, to reconcile it (None: not expired, or taken)."""
    result = session.execute(
        update(ScheduledMessage)
        .where(ScheduledMessage.id == message_id, _expired(now, lease))
        .values(claimed_by=token, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return session.get(ScheduledMessage, message_id, populate_existing=True)


def outbound_since(*, session: Session, participant_id: int, after_log_id: int) -> list[MessageLog]:
    """What the assistant sent a participant after a message-log ID (not staff's texts)."""
    rows = session.execute(
        select(MessageLog)
        .where(
            MessageLog.participant_id == participant_id,
            MessageLog.direction == Direction.OUTBOUND,
            MessageLog.sent_by.is_(None),
            MessageLog.id > after_log_id,
        )
        .order_by(MessageLog.id)
    ).scalars()
    return list(rows)


def last_log_id(*, session: Session) -> int:
    """The newest message-log ID (0 for an empty log): what is logged later is above it."""
    return int(session.execute(select(func.max(MessageLog.id))).scalar_one_or_none() or 0)


def sent_prompt_times_of(
    *, session: Session, participant_ids: Collection[int], limit: int
) -> dict[int, list[datetime]]:
    """When each participant's latest check-in prompts (up to `limit`) were sent, newest
    first, in one statement."""
    if not participant_ids or limit <= 0:
        return {}
    ranked = (
        select(
            ScheduledMessage.participant_id,
            ScheduledMessage.sent_at,
            func.row_number()
            .over(
                partition_by=ScheduledMessage.participant_id,
                order_by=(ScheduledMessage.sent_at.desc(), ScheduledMessage.id.desc()),
            )
            .label("rank"),
        )
        .where(
            ScheduledMessage.participant_id.in_(list(participant_ids)),
            ScheduledMessage.kind == Kind.CHECKIN_PROMPT.value,
            ScheduledMessage.status == OutreachStatus.SENT,
            ScheduledMessage.sent_at.is_not(None),
        )
        .subquery()
    )
    times: dict[int, list[datetime]] = {}
    rows = session.execute(
        select(ranked.c.participant_id, ranked.c.sent_at)
        .where(ranked.c.rank <= limit)
        .order_by(ranked.c.participant_id, ranked.c.rank)
    )
    for participant_id, sent_at in rows:
        if sent_at is not None:
            times.setdefault(participant_id, []).append(sent_at)
    return times
