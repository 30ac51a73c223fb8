"""Reads and writes of the due-jobs table (`scheduled_messages`). Keyword-only, bound parameters.

A row goes pending -> sending (claimed by one worker with a conditional UPDATE) -> sent,
skipped or failed. Only a claim moves a row out of pending, so a message is sent at most
once even with two workers or a restart.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.db.models import OutreachStatus, ScheduledMessage

_CHUNK = 500


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


def _insert(session: Session) -> Any:
    """INSERT for the session's database, with its ON CONFLICT DO NOTHING."""
    dialect = session.get_bind().dialect.name
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


def get_message(*, session: Session, message_id: int) -> ScheduledMessage | None:
    """A scheduled message by ID."""
    return session.get(ScheduledMessage, message_id)


def claim(*, session: Session, message_id: int) -> bool:
    """Take a pending message for sending; False when it is not pending (someone else has it)."""
    result = session.execute(
        update(ScheduledMessage)
        .where(
            ScheduledMessage.id == message_id,
            ScheduledMessage.status == OutreachStatus.PENDING,
        )
        .values(status=OutreachStatus.SENDING, attempts=ScheduledMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def release(*, session: Session, message_id: int, note: str) -> None:
    """Put a claimed message back to pending: it certainly was not sent."""
    session.execute(
        update(ScheduledMessage)
        .where(
            ScheduledMessage.id == message_id,
            ScheduledMessage.status == OutreachStatus.SENDING,
        )
        .values(status=OutreachStatus.PENDING, note=note)
        .execution_options(synchronize_session=False)
    )


def finish(
    *,
    session: Session,
    message_id: int,
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
        .where(
            ScheduledMessage.id == message_id,
            ScheduledMessage.status == OutreachStatus.SENDING,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def interrupted_message_ids(*, session: Session) -> list[int]:
    """Messages left in 'sending': a worker stopped between claiming and recording them."""
    rows = session.execute(
        select(ScheduledMessage.id).where(ScheduledMessage.status == OutreachStatus.SENDING)
    ).scalars()
    return list(rows)


def mark_interrupted(*, session: Session, message_ids: Sequence[int], note: str) -> None:
    """Mark messages left in 'sending' as failed (never sent again)."""
    if not message_ids:
        return
    session.execute(
        update(ScheduledMessage)
        .where(
            ScheduledMessage.id.in_(list(message_ids)),
            ScheduledMessage.status == OutreachStatus.SENDING,
        )
        .values(status=OutreachStatus.FAILED, note=note)
        .execution_options(synchronize_session=False)
    )


def sent_prompt_times(*, session: Session, participant_id: int, limit: int) -> list[datetime]:
    """When the participant's latest check-in prompts were sent, newest first."""
    rows = session.execute(
        select(ScheduledMessage.sent_at)
        .where(
            ScheduledMessage.participant_id == participant_id,
            ScheduledMessage.kind == Kind.CHECKIN_PROMPT.value,
            ScheduledMessage.status == OutreachStatus.SENT,
            ScheduledMessage.sent_at.is_not(None),
        )
        .order_by(ScheduledMessage.sent_at.desc(), ScheduledMessage.id.desc())
        .limit(limit)
    ).scalars()
    return [sent_at for sent_at in rows if sent_at is not None]
