"""Participants' inbound messages as a queue: each handled once, in order, whatever stops.

The SMS and Telegram channels answer a webhook as soon as the message is stored and
handle it afterwards. So that no acknowledged message is lost, the message log is the
queue (its SQL is here; `bot.channels.inbound_queue` runs it in the Rasa server):

- A participant's message is stored waiting (`awaiting=True`: `handled_at` NULL), and
  marked handled when its turn is done (`finish_and_take_next`). Messages from staff and
  from strangers are not queued: they are handled when stored.
- Handling starts with a claim: a conditional UPDATE writes the handler's token and a
  lease (`claimed_until`), which the handler renews while the turn runs (`renew`). A claim
  is only ever taken on the participant's oldest waiting message in that channel, and only
  when nobody holds it or the holder's lease has run out (`take_next`). So two Rasa servers
  on one database never handle the same message while both run, a server that stopped
  mid-turn is replaced once its lease runs out, and a later message of a participant is
  never handled before an earlier one.
- Storing, finishing and claiming a participant's messages hold the participant's row
  (`FOR NO KEY UPDATE` on PostgreSQL; SQLite runs one writing transaction at a time), so
  they happen one at a time: a message stored while an earlier one is being handled is
  claimed by that handler when it finishes, or by its own webhook, never by both and never
  by neither.
- The first handling of a message counts 1 in `attempts`; a message handled again after a
  server stopped mid-turn counts more (`Stored.attempt`). The turn guard's exactly-once
  emergency escalation (per Rasa message ID, the channel's own message ID) holds across them.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.db.models import Channel, Direction, MessageLog, Participant

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimant:
    """Who claims messages (a token naming the process) and for how long at a time."""

    token: str
    lease: timedelta


@dataclass(frozen=True)
class Stored:
    """A claimed message: what its channel needs to handle it from the log alone."""

    log_id: int
    participant_id: int
    sender_id: str
    channel: Channel
    text: str
    external_id: str | None
    received_at: datetime
    # This handling's number: 1 the first time, more after a server stopped mid-turn.
    attempt: int
    detail: dict[str, Any] = field(default_factory=dict)


class RetryState(enum.Enum):
    """What a channel's re-delivery of a message it stored before finds."""

    HANDLED = "handled"  # its turn is done: acknowledge it and do nothing
    WAITING = "waiting"  # someone is handling it, or an earlier message first
    CLAIMED = "claimed"  # nobody was: this server handles it (or the earlier one) now
    NOT_QUEUED = "not queued"  # not a participant's message (staff, a stranger)


@dataclass(frozen=True)
class Retry:
    """A re-delivered message's state, and what this server claimed because of it."""

    state: RetryState
    log_id: int | None = None
    claimed: Stored | None = None


def lock_queue(*, session: Session, participant_id: int) -> None:
    """Hold the participant's queue until the transaction ends (no-op on SQLite)."""
    session.execute(
        select(Participant.id)
        .where(Participant.id == participant_id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE: their messages' FKs still pass
    )


def _waiting(participant_id: int, channel: Channel) -> list[ColumnElement]:
    return [
        MessageLog.participant_id == participant_id,
        MessageLog.channel == channel,
        MessageLog.direction == Direction.INBOUND,
        MessageLog.handled_at.is_(None),
    ]


def _free(now: datetime) -> ColumnElement:
    """Nobody holds it, or the holder's lease has run out."""
    return or_(MessageLog.claimed_until.is_(None), MessageLog.claimed_until <= now)


def take_next(
    *,
    session: Session,
    participant_id: int,
    channel: Channel,
    claimant: Claimant,
    now: datetime,
    arrived_by: datetime | None = None,
) -> Stored | None:
    """Claim the participant's oldest waiting message, if it is free (and arrived by then).

    None when nothing waits, the oldest is being handled (it is claimed, and the lease
    holds), or it arrived after `arrived_by` (a sweep leaves messages that young alone).
    """
    lock_queue(session=session, participant_id=participant_id)
    entry = session.execute(
        select(MessageLog)
        .where(*_waiting(participant_id, channel))
        .order_by(MessageLog.id)
        .limit(1)
    ).scalar_one_or_none()
    if entry is None or (arrived_by is not None and entry.created_at > arrived_by):
        return None
    claimed = session.execute(
        update(MessageLog)
        .where(MessageLog.id == entry.id, MessageLog.handled_at.is_(None), _free(now))
        .values(
            claimed_by=claimant.token,
            claimed_until=now + claimant.lease,
            attempts=MessageLog.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return None
    return Stored(
        log_id=entry.id,
        participant_id=participant_id,
        sender_id=entry.sender_id,
        channel=channel,
        text=entry.text,
        external_id=entry.external_id,
        received_at=entry.created_at,
        attempt=(entry.attempts or 0) + 1,
        detail=dict(entry.detail or {}),
    )


def _held(stored: Stored, claimant: Claimant) -> list[ColumnElement]:
    """The message still waits, and the claimant holds it."""
    return [
        MessageLog.id == stored.log_id,
        MessageLog.claimed_by == claimant.token,
        MessageLog.handled_at.is_(None),
    ]


def renew(*, session: Session, stored: Stored, claimant: Claimant, now: datetime) -> bool:
    """Extend the lease on a message being handled; False if the claim is no longer ours."""
    result = session.execute(
        update(MessageLog)
        .where(*_held(stored, claimant))
        .values(claimed_until=now + claimant.lease)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def finish_and_take_next(
    *, session: Session, stored: Stored, claimant: Claimant, now: datetime
) -> Stored | None:
    """Mark a handled message so, and claim the participant's next one if it waits.

    If the claim was lost (the lease ran out and another server took the message), the
    message is theirs to finish, and so is what follows it: None.
    """
    lock_queue(session=session, participant_id=stored.participant_id)
    finished = session.execute(
        update(MessageLog)
        .where(*_held(stored, claimant))
        .values(handled_at=now, claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    if finished.rowcount != 1:
        logger.warning(
            "message log %s: handled, but another server had taken it over meanwhile",
            stored.log_id,
        )
        return None
    return take_next(
        session=session,
        participant_id=stored.participant_id,
        channel=stored.channel,
        claimant=claimant,
        now=now,
    )


def waiting_participants(
    *, session: Session, channel: Channel, now: datetime, arrived_by: datetime, limit: int = 100
) -> list[int]:
    """Participants with a message that arrived by `arrived_by`, waits, and is free."""
    oldest = func.min(MessageLog.id)
    rows = session.execute(
        select(MessageLog.participant_id, oldest)
        .where(
            MessageLog.channel == channel,
            MessageLog.direction == Direction.INBOUND,
            MessageLog.handled_at.is_(None),
            MessageLog.participant_id.is_not(None),
            MessageLog.created_at <= arrived_by,
            _free(now),
        )
        .group_by(MessageLog.participant_id)
        .order_by(oldest)
        .limit(limit)
    ).all()
    return [int(row[0]) for row in rows]


def claim_retried(
    *, session: Session, channel: Channel, external_id: str, claimant: Claimant, now: datetime
) -> Retry:
    """A channel delivered a message again (same external ID): handle it now if nobody is."""
    entry = session.execute(
        select(MessageLog).where(
            MessageLog.channel == channel,
            MessageLog.direction == Direction.INBOUND,
            MessageLog.external_id == external_id,
        )
    ).scalar_one_or_none()
    if entry is None or entry.participant_id is None:
        return Retry(RetryState.NOT_QUEUED, entry.id if entry else None)
    if entry.handled_at is not None:
        return Retry(RetryState.HANDLED, entry.id)
    claimed = take_next(
        session=session,
        participant_id=entry.participant_id,
        channel=channel,
        claimant=claimant,
        now=now,
    )
    state = RetryState.WAITING if claimed is None else RetryState.CLAIMED
    return Retry(state, entry.id, claimed)
