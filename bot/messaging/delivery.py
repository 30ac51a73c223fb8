"""Sending messages to participants on their own channel: logged, retried, opt-outs kept.

Every outbound message is written to the message log before it is sent ("queued"), then
updated with the channel's message ID and status ("sent", later "delivered" from status
callbacks) or "failed" with the error. A send that fails is retried at once with backoff;
if it still fails, `next_attempt_at` is set so the worker sends it again later
(`retry_failed`). A participant who opted out gets nothing (the log says "suppressed"),
except the one confirmation of the opt-out itself.

Nothing reaches a participant twice:

- A send whose outcome is unknown (the request went out, no answer came back: a timeout,
  a dropped connection) is looked up at the provider before it is tried again, when the
  client can (`Reconciling`: Twilio lists the messages it took); found, it is recorded
  as sent and not sent again. A client that cannot look up (Telegram's Bot API) sends
  again: at least once.
- The replies to a participant's message are numbered in their handling (`ReplyTo`): row
  N of the handling of message M. A handling run again because its server stopped
  mid-turn (`bot.channels.inbound_queue`: Rasa saves the turn only after its replies
  went out) sends reply N only if the first run did not: a row already sent (or
  suppressed, or left to the retry worker) is kept as it is; a row left "queued" by a
  server that stopped mid-send is looked up at the provider first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select, update
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


@dataclass
class ReplyTo:
    """The participant's message a handling answers (its log ID), and whether this is a
    run again of a handling that stopped mid-turn. Each outbound row of the handling gets
    the next number (`take`), so a run again can tell which replies already went out."""

    log_id: int
    rerun: bool = False
    _next: int = field(default=0, repr=False)

    def take(self) -> int:
        """The number of the handling's next outbound row."""
        index = self._next
        self._next += 1
        return index


# How much earlier than our own clock a provider's record may say it took a message.
CLOCK_MARGIN = timedelta(minutes=2)
# How long a process holds a failed message it is sending again (`retry_failed`).
RETRY_CLAIM = timedelta(minutes=5)


@runtime_checkable
class Reconciling(Protocol):
    """A client that can tell whether a message went out after all (Twilio's message list)."""

    async def sent_since(
        self,
        address: str,
        text: str,
        buttons: Sequence[Button],
        *,
        language: str,
        since: datetime,
    ) -> list[Sent]:
        """The provider's records of this text (as `send` words it) to `address` since
        `since`, newest first; raise SendError when it cannot look."""


def _logged_ids(channel: str, external_ids: list[str]) -> set[str]:
    with session_scope() as session:
        return set(
            session.execute(
                select(MessageLog.external_id).where(
                    MessageLog.channel == Channel(channel),
                    MessageLog.direction == Direction.OUTBOUND,
                    MessageLog.external_id.in_(external_ids),
                )
            ).scalars()
        )


async def _find_sent(
    client: ChannelClient,
    address: str,
    text: str,
    buttons: Sequence[Button],
    language: str,
    since: datetime,
) -> Sent | None:
    """The provider's record of this send, if it took it after all: the same text to the
    same address since `since` (less the clock margin) that no logged message has. None:
    not found, or the client cannot look up, or the lookup failed: then it is sent again."""
    if not isinstance(client, Reconciling):
        return None
    try:
        records = await client.sent_since(
            address, text, buttons, language=language, since=since - CLOCK_MARGIN
        )
    except SendError as error:
        logger.warning("could not look up an earlier send at %s: %s", client.channel, error)
        return None
    if not records:
        return None
    logged = await asyncio.to_thread(
        _logged_ids, client.channel, [record.external_id for record in records]
    )
    found = next((record for record in records if record.external_id not in logged), None)
    if found is not None:
        logger.warning(
            "%s had taken a message whose send looked failed (%s): not sent again",
            client.channel,
            found.external_id,
        )
    return found


def log_outbound(
    participant: Participant,
    text: str,
    status: str,
    *,
    buttons: Sequence[Button] = (),
    error: str | None = None,
    sent_by: str | None = None,
    language: str | None = None,
    reply: tuple[int, int] | None = None,
) -> int:
    """Write one outbound message to the log before (or instead of) sending it; its ID.

    `sent_by` names the staff member who typed it (a handoff); None is the assistant.
    `language` is the text's language; None: the participant's. `reply`: the log ID of
    the participant's message this answers, and the row's number in that handling.
    """
    entry = outbound_entry(
        participant,
        text,
        status,
        buttons=buttons,
        error=error,
        sent_by=sent_by,
        language=language,
        reply=reply,
    )
    with session_scope() as session:
        session.add(entry)
        session.flush()
        return entry.id


def outbound_entry(
    participant: Participant,
    text: str,
    status: str,
    *,
    buttons: Sequence[Button] = (),
    error: str | None = None,
    sent_by: str | None = None,
    language: str | None = None,
    reply: tuple[int, int] | None = None,
) -> MessageLog:
    """A new log row of one outbound message (`log_outbound`), not yet added to a session:
    many are added and flushed together."""
    return MessageLog(
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
        reply_to_id=reply[0] if reply else None,
        reply_index=reply[1] if reply else None,
    )


@dataclass(frozen=True)
class Tried:
    """What sending one logged message came to: the provider's record, or the last error
    and when to try again (None: never); `attempts` counts every try so far."""

    log_id: int
    attempts: int
    sent: Sent | None = None
    error: str | None = None
    retry_at: datetime | None = None

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.log_id, self.sent.status if self.sent is not None else FAILED)


# The log columns a send's result sets (`sent_values`).
SENT_COLUMNS = ("attempts", "external_id", "delivery_status", "error", "next_attempt_at")


def sent_values(tried: Tried) -> dict[str, Any]:
    """What a send's result writes to its log row (SENT_COLUMNS)."""
    sent = tried.sent
    return {
        "attempts": tried.attempts,
        "external_id": sent.external_id if sent is not None else None,
        "delivery_status": sent.status if sent is not None else FAILED,
        "error": None if sent is not None else tried.error,
        "next_attempt_at": None if sent is not None else tried.retry_at,
    }


def record_tried(session: Session, tried: Tried) -> None:
    """Write a send's result to its log row."""
    entry = session.get(MessageLog, tried.log_id)
    if entry is None:
        return
    for name, value in sent_values(tried).items():
        setattr(entry, name, value)


def _record(tried: Tried) -> None:
    with session_scope() as session:
        record_tried(session, tried)


async def _attempt(
    client: ChannelClient,
    address: str,
    text: str,
    buttons: Sequence[Button],
    log_id: int,
    previous_attempts: int,
    language: str,
    *,
    uncertain_since: datetime | None = None,
) -> Outcome:
    """Send with immediate retries (`try_send`); record the result and when to try again
    if it failed."""
    tried = await try_send(
        client,
        address,
        text,
        buttons,
        log_id,
        previous_attempts,
        language,
        uncertain_since=uncertain_since,
    )
    await asyncio.to_thread(_record, tried)
    return tried.outcome


async def try_send(
    client: ChannelClient,
    address: str,
    text: str,
    buttons: Sequence[Button],
    log_id: int,
    previous_attempts: int,
    language: str,
    *,
    uncertain_since: datetime | None = None,
) -> Tried:
    """Send a logged message with immediate retries; what came of it, not yet recorded
    (`record_tried` writes it).

    A try whose outcome is unknown (`SendError.maybe_sent`) is looked up before the next
    one; `uncertain_since` (an earlier try's time) looks up before the first.
    """
    since = uncertain_since

    async def once() -> Sent:
        nonlocal since
        if since is not None:
            found = await _find_sent(client, address, text, buttons, language, since)
            if found is not None:
                return found
        started = utcnow()
        try:
            return await client.send(address, text, buttons, language=language)
        except SendError as failure:
            if failure.maybe_sent and since is None:
                since = started
            raise

    tries = await try_in_turn(
        once,
        SendError,
        waits=IMMEDIATE_BACKOFF,
        give_up=lambda failure: failure.permanent,
        on_error=lambda failure, attempt: logger.warning(
            "send failed (log %s, attempt %s): %s", log_id, previous_attempts + attempt, failure
        ),
    )
    attempts = previous_attempts + tries.attempts
    if tries.result is not None:
        return Tried(log_id, attempts, sent=tries.result)
    failure = tries.last_error
    return Tried(
        log_id,
        attempts,
        error=str(failure or "not sent"),
        retry_at=_next_retry(attempts, permanent=bool(failure and failure.permanent)),
    )


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
    reply_to: ReplyTo | None = None,
) -> list[Outcome]:
    """Send texts to a participant (buttons go with the last); log and retry each one.

    `sent_by`: the staff member who typed them, kept on each log entry. `language`: the
    texts' language when it is not the participant's (a Spanish keyword's confirmation).
    `reply_to`: the participant's message these answer; on a run again of its handling,
    what the first run sent is not sent again (module doc).
    """
    address = address_of(participant)
    outcomes = []
    for index, text in enumerate(texts):
        these_buttons = buttons if index == len(texts) - 1 else ()
        reply = (reply_to.log_id, reply_to.take()) if reply_to is not None else None
        if reply is not None and reply_to is not None and reply_to.rerun:
            earlier = await asyncio.to_thread(_earlier_row, reply, text)
            if earlier is not None:
                outcomes.append(
                    await _resume(
                        client,
                        earlier,
                        address,
                        text,
                        these_buttons,
                        language or participant.language,
                    )
                )
                continue
        logged = partial(
            log_outbound, buttons=these_buttons, sent_by=sent_by, language=language, reply=reply
        )
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


def message_parts(
    participant: Participant, text: str, buttons: Sequence[Button], language: str | None = None
) -> list[str]:
    """The parts one of the assistant's messages goes out in on the participant's channel:
    SMS-sized parts (the last with the buttons as numbered options), or the text as it is.
    Its buttons go with the last part."""
    if participant.channel is Channel.SMS:
        from bot.clients.twilio_sms import split_for_sms  # the Twilio library, only for SMS

        return split_for_sms(text, buttons, language or participant.language)
    return [text]


async def deliver_bot_message(
    client: ChannelClient,
    participant: Participant,
    text: str,
    buttons: Sequence[Button] = (),
    *,
    ignore_opt_out: bool = False,
    language: str | None = None,
    reply_to: ReplyTo | None = None,
) -> list[Outcome]:
    """Deliver one of the assistant's messages as the participant's channel shows it: by
    SMS split into parts that fit, its buttons as numbered options in the text's language;
    on Telegram as it is, its buttons as an inline keyboard. Rasa's output channels and the
    outreach worker's check-in openings both send through here."""
    return await deliver(
        client,
        participant,
        message_parts(participant, text, buttons, language),
        [dict(button) for button in buttons],
        ignore_opt_out=ignore_opt_out,
        language=language,
        reply_to=reply_to,
    )


@dataclass(frozen=True)
class _Earlier:
    """The row a first run of a handling wrote for the same reply."""

    log_id: int
    status: str | None
    external_id: str | None
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime


def _earlier_row(reply: tuple[int, int], text: str) -> _Earlier | None:
    """The outbound row of this reply number in the message's earlier handling, if its text
    is the same (a run again that says something else sends it as new)."""
    reply_to_id, reply_index = reply
    with session_scope() as session:
        entry = session.execute(
            select(MessageLog)
            .where(
                MessageLog.reply_to_id == reply_to_id,
                MessageLog.reply_index == reply_index,
                MessageLog.direction == Direction.OUTBOUND,
            )
            .order_by(MessageLog.id)
            .limit(1)
        ).scalar_one_or_none()
        if entry is None or entry.text != text:
            return None
        return _Earlier(
            entry.id,
            entry.delivery_status,
            entry.external_id,
            entry.attempts,
            entry.next_attempt_at,
            entry.created_at,
        )


async def _resume(
    client: ChannelClient,
    earlier: _Earlier,
    address: str | None,
    text: str,
    buttons: Sequence[Button],
    language: str,
) -> Outcome:
    """A reply the handling's first run already logged: sent, suppressed or left to the
    retry worker, it stays as it is; left queued by a server that stopped mid-send, it is
    looked up at the provider and sent only if the provider never took it."""
    status = earlier.status or QUEUED
    if earlier.external_id is not None or status != QUEUED or address is None:
        logger.info("reply (log %s) was handled before its server stopped: kept", earlier.log_id)
        return Outcome(earlier.log_id, status)
    return await _attempt(
        client,
        address,
        text,
        buttons,
        earlier.log_id,
        earlier.attempts,
        language,
        uncertain_since=earlier.created_at,
    )


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


def _claim_retry(session: Session, entry: MessageLog, now: datetime) -> bool:
    """Take a due retry for this process: its next try moved RETRY_CLAIM on, if no other
    process moved it first (several workers retry the same log). The try's result sets
    it again; a process that stops mid-try leaves it due after the claim, to be looked up
    at the provider before it is sent."""
    taken = session.execute(
        update(MessageLog)
        .where(
            MessageLog.id == entry.id,
            MessageLog.delivery_status == FAILED,
            MessageLog.next_attempt_at == entry.next_attempt_at,
        )
        .values(next_attempt_at=now + RETRY_CLAIM)
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


async def retry_failed(client: ChannelClient, *, now: datetime | None = None) -> int:
    """Send again every failed message of the client's channel that is due; returns how many."""

    def load() -> list[tuple[int, int, str, list[Button], datetime, Participant | None]]:
        with session_scope() as session:
            moment = now or utcnow()
            due = [
                entry
                for entry in due_retries(
                    session=session, channel=Channel(client.channel), now=moment
                )
                if _claim_retry(session, entry, moment)
            ]
            return [
                (
                    entry.id,
                    entry.attempts,
                    entry.text,
                    list(entry.buttons or []),
                    entry.created_at,
                    session.get(Participant, entry.participant_id)
                    if entry.participant_id
                    else None,
                )
                for entry in due
            ]

    retried = 0
    for log_id, attempts, text, buttons, logged_at, participant in await asyncio.to_thread(load):
        address = address_of(participant) if participant else None
        if participant is None or address is None or participant.opted_out_at:
            await asyncio.to_thread(_record, Tried(log_id, attempts, error="no longer reachable"))
            continue
        # An earlier try may have reached the provider without an answer: look it up first.
        await _attempt(
            client,
            address,
            text,
            buttons,
            log_id,
            attempts,
            participant.language,
            uncertain_since=logged_at,
        )
        retried += 1
    return retried
