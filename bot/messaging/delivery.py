"""Sending messages to participants on their own channel: logged, retried, opt-outs kept.

Every outbound message is written to the message log before it is sent ("queued"), then
updated with the channel's message ID and status ("sent", later "delivered" from status
callbacks) or "failed" with the error. A send that fails is retried at once with backoff;
if it still fails, `next_attempt_at` is set so the worker sends it again later
(`retry_failed`). A participant who opted out gets nothing (the log says "suppressed"),
except the one confirmation of the opt-out itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clients.base import Button, ChannelClient, SendError, Sent
from bot.core.retry import try_in_turn
from bot.db.models import Channel, Direction, MessageLog, Participant
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.participants.enrollment import address_of

logger = logging.getLogger(__name__)

# Retries right away (seconds to wait before each); then the worker tries again later.
IMMEDIATE_BACKOFF = (0.5, 2.0)
LATER_BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
MAX_ATTEMPTS = len(IMMEDIATE_BACKOFF) + 1 + len(LATER_BACKOFF)

QUEUED, FAILED, SUPPRESSED = "queued", "failed", "suppressed"


@dataclass(frozen=True)
class Outcome:
    """How one message went: its log ID and final status."""

    log_id: int
    status: str


def log_outbound(
    participant: Participant,
    text: str,
    status: str,
    *,
    buttons: Sequence[Button] = (),
    error: str | None = None,
    sent_by: str | None = None,
    language: str | None = None,
) -> int:
    """Write one outbound message to the log before (or instead of) sending it; its ID.

    `sent_by` names the staff member who typed it (a handoff); None is the assistant.
    `language` is the text's language; None: the participant's.
    """
    with session_scope() as session:
        entry = MessageLog(
            participant_id=participant.id,
            sender_id=participant.sender_id,
            channel=participant.channel,
            direction=Direction.OUTBOUND,
            text=text,
            buttons=list(buttons) or None,
            delivery_status=status,
            error=error,
            sent_by=sent_by,
            language=language or participant.language,
            attempts=0,
        )
        session.add(entry)
        session.flush()
        return entry.id


def _record_result(
    log_id: int,
    *,
    attempts: int,
    sent: Sent | None = None,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    with session_scope() as session:
        entry = session.get(MessageLog, log_id)
        if entry is None:
            return
        entry.attempts = attempts
        if sent is not None:
            entry.external_id = sent.external_id
            entry.delivery_status = sent.status
            entry.error = None
            entry.next_attempt_at = None
        else:
            entry.delivery_status = FAILED
            entry.error = error
            entry.next_attempt_at = retry_at


async def _attempt(
    client: ChannelClient,
    address: str,
    text: str,
    buttons: Sequence[Button],
    log_id: int,
    previous_attempts: int,
    language: str,
) -> Outcome:
    """Send with immediate retries; record the result and when to try again if it failed."""
    tries = await try_in_turn(
        lambda: client.send(address, text, buttons, language=language),
        SendError,
        waits=IMMEDIATE_BACKOFF,
        give_up=lambda failure: failure.permanent,
        on_error=lambda failure, attempt: logger.warning(
            "send failed (log %s, attempt %s): %s", log_id, previous_attempts + attempt, failure
        ),
    )
    attempts = previous_attempts + tries.attempts
    if tries.result is not None:
        await asyncio.to_thread(_record_result, log_id, attempts=attempts, sent=tries.result)
        return Outcome(log_id, tries.result.status)
    failure = tries.last_error
    retry_at = _next_retry(attempts, permanent=bool(failure and failure.permanent))
    await asyncio.to_thread(
        _record_result,
        log_id,
        attempts=attempts,
        error=str(failure or "not sent"),
        retry_at=retry_at,
    )
    return Outcome(log_id, FAILED)


def _next_retry(attempts: int, *, permanent: bool) -> datetime | None:
    """When the worker should try again (None: give up, the failure stays in the log)."""
    if permanent or attempts >= MAX_ATTEMPTS:
        return None
    later = max(0, attempts - len(IMMEDIATE_BACKOFF) - 1)
    return utcnow() + LATER_BACKOFF[min(later, len(LATER_BACKOFF) - 1)]


async def deliver(
    client: ChannelClient,
    participant: Participant,
    texts: Sequence[str],
    buttons: Sequence[Button] = (),
    *,
    ignore_opt_out: bool = False,
    sent_by: str | None = None,
    language: str | None = None,
) -> list[Outcome]:
    """Send texts to a participant (buttons go with the last); log and retry each one.

    `sent_by`: the staff member who typed them, kept on each log entry. `language`: the
    texts' language when it is not the participant's (a Spanish keyword's confirmation).
    """
    address = address_of(participant)
    outcomes = []
    for index, text in enumerate(texts):
        these_buttons = buttons if index == len(texts) - 1 else ()
        logged = partial(log_outbound, buttons=these_buttons, sent_by=sent_by, language=language)
        if (participant.opted_out_at and not ignore_opt_out) or address is None:
            log_id = await asyncio.to_thread(logged, participant, text, SUPPRESSED)
            outcomes.append(Outcome(log_id, SUPPRESSED))
            continue
        log_id = await asyncio.to_thread(logged, participant, text, QUEUED)
        outcomes.append(
            await _attempt(
                client, address, text, these_buttons, log_id, 0, language or participant.language
            )
        )
    return outcomes


def due_retries(*, session: Session, channel: Channel, now: datetime) -> list[MessageLog]:
    """Failed outbound messages whose next try is due."""
    rows = session.execute(
        select(MessageLog).where(
            MessageLog.channel == channel,
            MessageLog.direction == Direction.OUTBOUND,
            MessageLog.delivery_status == FAILED,
            MessageLog.next_attempt_at.is_not(None),
            MessageLog.next_attempt_at <= now,
        )
    ).scalars()
    return list(rows)


async def retry_failed(client: ChannelClient, *, now: datetime | None = None) -> int:
    """Send again every failed message of the client's channel that is due; returns how many."""

    def load() -> list[tuple[int, int, str, list[Button], Participant | None]]:
        with session_scope() as session:
            due = due_retries(session=session, channel=Channel(client.channel), now=now or utcnow())
            return [
                (
                    entry.id,
                    entry.attempts,
                    entry.text,
                    list(entry.buttons or []),
                    session.get(Participant, entry.participant_id)
                    if entry.participant_id
                    else None,
                )
                for entry in due
            ]

    retried = 0
    for log_id, attempts, text, buttons, participant in await asyncio.to_thread(load):
        address = address_of(participant) if participant else None
        if participant is None or address is None or participant.opted_out_at:
            await asyncio.to_thread(
                _record_result, log_id, attempts=attempts, error="no longer reachable"
            )
            continue
        await _attempt(client, address, text, buttons, log_id, attempts, participant.language)
        retried += 1
    return retried
