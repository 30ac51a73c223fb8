"""The Rasa server's side of `bot.messaging.inbound`: no acknowledged message is lost.

The SMS and Telegram channels store a participant's message and answer the webhook before
the message is handled. Each gives its `InboundQueue` the function that handles one
stored message from the log alone — the same path as a live message: the channel's
guarded `on_new_message` (`bot.safety.turn_guard`) with its own output channel — and:

- `start(claimed)` after storing a message: the claimed message is handled in the
  background; when it is done it is marked handled and
  the participant's next waiting message is claimed and handled in turn, so a
  participant's messages are handled one at a time, in the order they arrived;
- `attach(blueprint, ...)`: once the server has started (Rasa's agent is loaded by then)
  and every INBOUND_SWEEP_SECONDS after, a sweep claims each participant's oldest message
  that has waited longer than INBOUND_GRACE_SECONDS and that nobody holds (never claimed,
  or its handler's lease ran out: that server stopped mid-turn), and handles their queue
  from there. The grace period keeps a sweep away from messages a live server is about to
  take; the lease keeps it away from messages one is handling;
- `redelivered(external_id)` when Twilio or Telegram delivers a stored message again: if
  it still waits and nobody holds it, it is claimed and handled now, like a sweep would.

While a message is handled, its lease (INBOUND_LEASE_SECONDS) is renewed every third of
that time. A handling that fails in a way the turn guard could not make good (the
database gone, say) leaves the message claimed, and it is handled again once the lease
has run out; so is one whose server stopped mid-turn. A message may then be handled a
second time (at least once, never zero times); its emergency escalation is still stored
once, since the turn guard keys it by the channel's own message ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

from rasa.shared.core.events import UserUttered
from sanic import Blueprint
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.core.claims import claim_token
from bot.core.retry import with_retries
from bot.core.settings import Settings
from bot.db.models import Channel
from bot.db.session import in_session, in_session_async
from bot.db.types import utcnow
from bot.messaging.inbound import (
    Claimant,
    Retry,
    RetryState,
    Stored,
    claim_retried,
    finish_and_take_next,
    renew,
    take_next,
    waiting_participants,
)

logger = logging.getLogger(__name__)

Handle = Callable[[Stored], Awaitable[None]]


class InboundQueue:
    """One channel's participant messages, handled once each and in order (module doc)."""

    def __init__(self, channel: Channel, name: str) -> None:
        self.channel = channel
        self.name = name
        self.claimant = Claimant(claim_token(name), timedelta(seconds=60))
        self.grace = timedelta(seconds=60)
        self.sweep_every = 30.0
        self._handle: Handle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._app: Any = None

    @property
    def tasks(self) -> set[asyncio.Task[None]]:
        """The handlings running now (each drains one participant's queue)."""
        return set(self._tasks)

    def attach(self, blueprint: Blueprint, handle: Handle, settings: Settings) -> None:
        """Handle with `handle`; sweep when the server has started, and every so often."""
        self._handle = handle
        self.claimant = Claimant(
            claim_token(self.name), timedelta(seconds=settings.inbound_lease_seconds)
        )
        self.grace = timedelta(seconds=settings.inbound_grace_seconds)
        self.sweep_every = settings.inbound_sweep_seconds

        @blueprint.listener("after_server_start")
        async def start_sweeping(app: Any, loop: Any) -> None:
            self._app = app
            self._sweeper = asyncio.create_task(self._sweep_forever(), name=f"{self.name}-sweep")

        @blueprint.listener("before_server_stop")
        async def stop_sweeping(app: Any, loop: Any) -> None:
            if self._sweeper is not None:
                self._sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._sweeper

    def start(self, claimed: Stored | None) -> None:
        """Handle a claimed message in the background, then the participant's next ones."""
        if claimed is None:
            return
        if claimed.attempt > 1:
            logger.warning(
                "%s: message log %s is handled again (attempt %s): its last handler stopped "
                "mid-turn",
                self.name,
                claimed.log_id,
                claimed.attempt,
            )
        task = asyncio.create_task(self._drain(claimed), name=f"{self.name}-{claimed.log_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def redelivered(self, external_id: str) -> Retry:
        """The channel delivered a stored message again (a retry): if it waits and nobody
        holds it (its server stopped), claim it, or the participant's earlier one, now."""
        retry = await in_session_async(
            lambda session: claim_retried(
                session=session,
                channel=self.channel,
                external_id=external_id,
                claimant=self.claimant,
                now=utcnow(),
            )
        )
        if retry.state is RetryState.CLAIMED:
            logger.warning(
                "%s: %s (log %s) was received before but not handled: handling it now",
                self.name,
                external_id,
                retry.log_id,
            )
            self.start(retry.claimed)
        return retry

    async def wait_idle(self) -> None:
        """Wait until every message claimed so far has been handled."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def sweep(self) -> int:
        """Claim and start handling the queues of participants whose messages wait unheld.

        Returns how many participants' queues were started.
        """
        now = utcnow()
        arrived_by = now - self.grace
        participants = await in_session_async(
            lambda session: waiting_participants(
                session=session, channel=self.channel, now=now, arrived_by=arrived_by
            )
        )
        started = 0
        for participant_id in participants:
            claimed = await in_session_async(
                partial(
                    _take_next,
                    participant_id=participant_id,
                    channel=self.channel,
                    claimant=self.claimant,
                    now=now,
                    arrived_by=arrived_by,
                )
            )
            if claimed is None:
                continue
            logger.warning(
                "%s: message log %s (participant %s) waited %s s unhandled: handling it now",
                self.name,
                claimed.log_id,
                claimed.participant_id,
                int((now - claimed.received_at).total_seconds()),
            )
            self.start(claimed)
            started += 1
        return started

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                logger.exception("%s: the sweep for waiting messages failed", self.name)
            await asyncio.sleep(self.sweep_every)

    async def _drain(self, first: Stored) -> None:
        """Handle a claimed message, then each next one of the participant's, in order."""
        current: Stored | None = first
        while current is not None:
            if not await self._handle_leased(current):
                return
            current = await self._finish(current)

    async def _handle_leased(self, stored: Stored) -> bool:
        """Handle one message, renewing its lease meanwhile; False if handling failed."""
        if self._handle is None:
            raise RuntimeError("InboundQueue.attach was not called")
        if stored.attempt > 1 and await self._already_taken_in(stored):
            logger.warning(
                "%s: message log %s: its turn was done before its handler stopped (it is in "
                "the conversation): marked handled, not run again",
                self.name,
                stored.log_id,
            )
            return True
        renewing = asyncio.create_task(self._keep_lease(stored))
        try:
            await self._handle(stored)
        except Exception:
            logger.exception(
                "%s: message log %s could not be handled; it is handled again once its "
                "claim runs out",
                self.name,
                stored.log_id,
            )
            return False
        finally:
            renewing.cancel()
        return True

    async def _already_taken_in(self, stored: Stored) -> bool:
        """True when Rasa's tracker already has this message's turn (the channel's own
        message ID: the MessageSid, or the Telegram update): a handler that stopped after
        the turn was saved and before the message was marked handled. Rasa saves the
        tracker once the turn's replies are sent, so running it again would repeat them."""
        agent = getattr(getattr(self._app, "ctx", None), "agent", None)
        store = getattr(agent, "tracker_store", None)
        if store is None or stored.external_id is None:
            return False
        ids = {stored.external_id, f"telegram-{stored.external_id}"}
        try:
            tracker = await store.retrieve(stored.sender_id)
        except Exception:
            logger.exception("%s: could not read the conversation of %s", self.name, stored.log_id)
            return False
        if tracker is None:
            return False
        return any(
            isinstance(event, UserUttered) and event.message_id in ids for event in tracker.events
        )

    async def _finish(self, stored: Stored) -> Stored | None:
        """Mark a message handled (tried again while the database is busy); the next one."""

        def work(session: Session) -> Stored | None:
            return finish_and_take_next(
                session=session, stored=stored, claimant=self.claimant, now=utcnow()
            )

        try:
            return await asyncio.to_thread(with_retries, lambda: in_session(work), OperationalError)
        except Exception:
            logger.exception(
                "%s: message log %s was handled but could not be marked so; it may be "
                "handled again once its claim runs out",
                self.name,
                stored.log_id,
            )
            return None

    async def _keep_lease(self, stored: Stored) -> None:
        """Renew the claim every third of the lease until cancelled."""
        every = self.claimant.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                kept = await in_session_async(
                    lambda session: renew(
                        session=session, stored=stored, claimant=self.claimant, now=utcnow()
                    )
                )
            except Exception:
                logger.exception("%s: message log %s: lease not renewed", self.name, stored.log_id)
                continue
            if not kept:
                logger.warning(
                    "%s: message log %s: the claim was lost while it was being handled",
                    self.name,
                    stored.log_id,
                )
                return


def _take_next(session: Session, **arguments: Any) -> Stored | None:
    return take_next(session=session, **arguments)
