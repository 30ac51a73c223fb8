"""The alert worker: delivers every escalation to staff, retries, and re-escalates.

It runs as its own process (`python -m bot.alerts.worker`; `trialbot run` supervises it)
and keeps no state of its own: everything is derived from the `escalations` and
`alert_deliveries` tables, so a restarted worker resumes where the last one stopped and
never plans or sends a round twice. Every tick (POLL_SECONDS, 0.5 s: an alert leaves
within about half a second of the escalation being stored):

1. plan: each open escalation raised in the last CATCH_UP hours without deliveries gets
   round 0 (`bot.alerts.planning`: on-call staff and the staff group, on the channels its
   level lists; a console row always);
2. re-escalate: an open emergency or urgent escalation gets round 1 (backup) once
   `created_at + response time` has passed, and round 2 (everyone) after the same time
   again; an acknowledged or resolved one gets no further round;
3. settle: alerts not yet sent for an escalation someone has acknowledged are cancelled,
   and everyone the alert reached (but the person who acknowledged it) gets a notice;
4. send: each due delivery is claimed (pending or failed -> sending) and sent in the
   background, so a slow or failing channel never holds up the next tick. A send is tried
   at once and again after `bot.messaging.delivery.IMMEDIATE_BACKOFF`; if all fail it is retried
   after RETRY_AFTER, and when those fail too (or the error is permanent: a bad number,
   a blocked bot) it is marked undelivered, which the console shows. Every attempt and
   its result is kept on the row.

At least once: a claim is a lease of CLAIM_LEASE; a delivery still 'sending' after that
was left by a worker that stopped mid-send, and is sent again (a duplicate alert is better
than a missing one). Two workers on one database never send the same delivery twice
while both run.

The clock is a parameter: tests move time forward to check re-escalation.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.alerts import repository
from bot.alerts.coverage import coverage_problems
from bot.alerts.planning import (
    CONSOLE_TARGET,
    EVERYONE,
    FIRST,
    GROUP_RECIPIENT,
    ROUND_NAMES,
    plan_round,
    round_due_at,
)
from bot.alerts.repository import SendJob
from bot.alerts.sms_staff import SmsStaffSender
from bot.alerts.telegram_staff import TelegramStaffSender
from bot.alerts.texts import AlertFacts, ack_notice_text, alert_text
from bot.clients.base import SendError, Sent
from bot.core.crypto import decrypt
from bot.core.retry import try_in_turn
from bot.core.settings import Settings
from bot.core.worker import Worker, command
from bot.db.models import (
    AlertChannel,
    AlertKind,
    AlertStatus,
    Escalation,
    EscalationStatus,
    StaffUser,
)
from bot.db.session import database_check, in_session_async
from bot.db.types import utcnow
from bot.messaging import delivery
from bot.study.config import StudyConfig, current_study

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
StudySource = Callable[[], StudyConfig]
T = TypeVar("T")

POLL_SECONDS = 0.5
# Escalations older than this when the worker first sees them are left to the console.
CATCH_UP = timedelta(hours=24)
# After the immediate tries fail, the worker tries again after each of these in turn.
RETRY_AFTER = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=5))
# How long a claimed send may take (3 tries of at most 10 s each, and the waits between).
CLAIM_LEASE = timedelta(seconds=60)
BATCH = 100


@dataclass
class TickReport:
    """What one tick did."""

    planned: int = 0
    re_escalated: int = 0
    cancelled: int = 0
    notices: int = 0
    dispatched: int = 0


@dataclass(frozen=True)
class Prepared:
    """A claimed delivery ready to go: the text and where to."""

    text: str
    address: str


@dataclass(frozen=True)
class NotSent:
    """Why a claimed delivery is not sent at all."""

    status: AlertStatus
    reason: str


class AlertWorker(Worker):
    """Plans, sends, retries and re-escalates staff alerts; see the module docstring."""

    name = "alert worker"
    default_interval = POLL_SECONDS
    description = "Deliver staff alerts, retry failed sends and re-escalate (until stopped)."

    def __init__(
        self,
        *,
        telegram: TelegramStaffSender | None,
        sms: SmsStaffSender | None,
        base_url: str,
        clock: Clock = utcnow,
        study: StudySource = current_study,
    ) -> None:
        super().__init__()
        self._telegram = telegram
        self._sms = sms
        self._base_url = base_url
        self._clock = clock
        self._study = study
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utcnow) -> AlertWorker:
        """A worker for every staff channel whose credentials are set (nothing is sent yet)."""
        telegram, sms = None, None
        if settings.telegram_enabled:
            from bot.clients.telegram_bot import TelegramClient

            telegram = TelegramStaffSender(TelegramClient.from_settings(settings))
        else:
            logger.info("alerts: Telegram is not enabled; Telegram alerts are left out")
        if settings.twilio_enabled:
            from bot.clients.twilio_sms import TwilioSmsClient

            sms = SmsStaffSender(TwilioSmsClient.from_settings(settings))
        else:
            logger.info("alerts: SMS is not enabled; SMS alerts are left out")
        return cls(telegram=telegram, sms=sms, base_url=settings.web_url, clock=clock)

    @property
    def enabled_channels(self) -> frozenset[AlertChannel]:
        """The channels this worker can send on (the console always)."""
        channels = {AlertChannel.CONSOLE}
        if self._telegram is not None:
            channels.add(AlertChannel.TELEGRAM)
        if self._sms is not None:
            channels.add(AlertChannel.SMS)
        return frozenset(channels)

    async def tick(self) -> TickReport:
        """Plan, re-escalate, settle, and start the due sends (they finish in the background).

        New escalations' alerts are started first, before the slower checks of the tick.
        """
        study, now = self._study(), self._clock()
        since = now - CATCH_UP
        report = TickReport()
        report.planned = await in_session_async(
            lambda session: self._plan_new(session, study, since, now)
        )
        report.dispatched = await self._dispatch(study, now) if report.planned else 0
        report.re_escalated = await in_session_async(
            lambda session: self._plan_rounds(session, study, now)
        )
        report.cancelled = await in_session_async(
            lambda session: repository.cancel_settled(session=session)
        )
        report.notices = await in_session_async(
            lambda session: self._plan_notices(session, since, now)
        )
        report.dispatched += await self._dispatch(study, now)
        return report

    async def start(self) -> list[str]:
        """Say loudly, one line per level, when an alert level reaches nobody (`coverage`)."""
        study = self._study()
        problems = await in_session_async(
            lambda session: coverage_problems(
                session=session, study=study, enabled=self.enabled_channels
            )
        )
        for problem in problems:
            logger.error("alerts: %s", problem)
        return problems

    async def _dispatch(self, study: StudyConfig, now: datetime) -> int:
        """Claim the due deliveries and start sending them; how many."""
        jobs = await in_session_async(lambda session: self._claim_due(session, now))
        for job in jobs:
            self._in_background(self._send(job, study))
        return len(jobs)

    async def finish(self) -> None:
        """Let every send started so far end."""
        await self.wait_idle()

    async def wait_idle(self) -> None:
        """Wait until every send started so far has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def checks(self) -> dict[str, str]:
        """The database the escalations and deliveries are in."""
        return {"database": await asyncio.to_thread(database_check)}

    def describe(self) -> str:
        return "channels: " + ", ".join(sorted(channel.value for channel in self.enabled_channels))

    async def aclose(self) -> None:
        """Close the Telegram client's connections."""
        if self._telegram is not None:
            await self._telegram.aclose()

    # --- planning ----------------------------------------------------------------------

    def _plan_new(
        self, session: Session, study: StudyConfig, since: datetime, now: datetime
    ) -> int:
        planned = 0
        for escalation_id in repository.unplanned_escalation_ids(session=session, since=since):
            escalation = session.get(Escalation, escalation_id)
            if escalation is None:
                continue
            targets = plan_round(
                session=session,
                study=study,
                level=escalation.level,
                round_number=FIRST,
                enabled=self.enabled_channels,
            )
            if self._insert(session, escalation_id, AlertKind.ALERT, FIRST, targets, now):
                planned += 1
        return planned

    def _plan_rounds(self, session: Session, study: StudyConfig, now: datetime) -> int:
        planned = 0
        since = now - CATCH_UP
        for state in repository.re_escalation_candidates(session=session, since=since):
            next_round = state.last_round + 1
            if next_round > EVERYONE:
                continue
            if now < round_due_at(study, state.level, state.created_at, next_round):
                continue
            targets = plan_round(
                session=session,
                study=study,
                level=state.level,
                round_number=next_round,
                enabled=self.enabled_channels,
            )
            if self._insert(
                session, state.escalation_id, AlertKind.ALERT, next_round, targets, now
            ):
                planned += 1
        return planned

    def _plan_notices(self, session: Session, since: datetime, now: datetime) -> int:
        planned = 0
        for escalation_id in repository.settled_escalations_to_notify(session=session, since=since):
            targets = [
                CONSOLE_TARGET,
                *repository.notice_targets(session=session, escalation_id=escalation_id),
            ]
            if self._insert(session, escalation_id, AlertKind.ACK_NOTICE, FIRST, targets, now):
                planned += 1
        return planned

    @staticmethod
    def _insert(
        session: Session,
        escalation_id: int,
        kind: AlertKind,
        round_number: int,
        targets: Sequence[Any],
        now: datetime,
    ) -> bool:
        stored = repository.insert_plan(
            session=session,
            escalation_id=escalation_id,
            kind=kind,
            round_number=round_number,
            targets=targets,
            now=now,
        )
        if stored:
            logger.info(
                "escalation %s: %s round %s (%s) planned: %s deliveries",
                escalation_id,
                kind.value,
                round_number,
                ROUND_NAMES[round_number],
                len(targets) - 1,
            )
        return stored

    # --- sending -----------------------------------------------------------------------

    def _claim_due(self, session: Session, now: datetime) -> list[SendJob]:
        jobs = []
        for delivery_id in repository.due_delivery_ids(session=session, now=now, limit=BATCH):
            job = repository.claim(
                session=session, delivery_id=delivery_id, now=now, lease=CLAIM_LEASE
            )
            if job is None:
                continue
            if job.interrupted:
                logger.warning(
                    "alert delivery %s was interrupted mid-send: sending again", delivery_id
                )
            jobs.append(job)
        return jobs

    def _in_background(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, job: SendJob, study: StudyConfig) -> None:
        """Send one claimed delivery with immediate retries, and record how it went."""
        try:
            prepared = await in_session_async(lambda session: self._prepare(session, job, study))
            if isinstance(prepared, NotSent):
                await self._record(job, prepared.status, job.attempts, [], error=prepared.reason)
                return
            await self._attempt(job, prepared)
        except Exception as error:  # a claimed row never stays in 'sending' because of a bug
            logger.exception("alert delivery %s failed", job.delivery_id)
            await self._record(
                job,
                AlertStatus.FAILED,
                job.attempts,
                [],
                error=f"error: {type(error).__name__}",
                next_attempt_at=self._clock() + RETRY_AFTER[0],
            )

    async def _attempt(self, job: SendJob, prepared: Prepared) -> None:
        results: list[dict[str, str]] = []

        def failed(failure: SendError, attempt: int) -> None:
            results.append(self._result(str(failure)))
            logger.warning(
                "alert delivery %s (escalation %s, attempt %s) failed: %s",
                job.delivery_id,
                job.escalation_id,
                job.attempts + attempt,
                failure,
            )

        tries = await try_in_turn(
            lambda: self._transmit(job, prepared),
            SendError,
            waits=delivery.IMMEDIATE_BACKOFF,
            give_up=lambda failure: failure.permanent,
            on_error=failed,
        )
        attempts = job.attempts + tries.attempts
        if tries.result is not None:
            results.append(self._result("sent"))
            await self._record(
                job, AlertStatus.SENT, attempts, results, external_id=tries.result.external_id
            )
            logger.info(
                "alert delivery %s (escalation %s, %s round %s) sent by %s to %s",
                job.delivery_id,
                job.escalation_id,
                job.kind.value,
                job.round,
                job.channel.value,
                job.recipient,
            )
            return
        failure = tries.last_error
        error, permanent = str(failure or "not sent"), bool(failure and failure.permanent)
        status, retry_at = self._after_failure(attempts, permanent=permanent)
        await self._record(job, status, attempts, results, error=error, next_attempt_at=retry_at)
        if status is AlertStatus.UNDELIVERED:
            logger.error(
                "alert delivery %s (escalation %s) undelivered by %s to %s after %s attempts",
                job.delivery_id,
                job.escalation_id,
                job.channel.value,
                job.recipient,
                attempts,
            )

    def _result(self, result: str) -> dict[str, str]:
        return {"at": self._clock().isoformat(timespec="seconds"), "result": result}

    def _after_failure(
        self, attempts: int, *, permanent: bool
    ) -> tuple[AlertStatus, datetime | None]:
        """Failed (and when to try again) or, once the retries are used up, undelivered."""
        tries_per_round = 1 + len(delivery.IMMEDIATE_BACKOFF)
        rounds_done = math.ceil(attempts / tries_per_round)
        if permanent or rounds_done > len(RETRY_AFTER):
            return AlertStatus.UNDELIVERED, None
        return AlertStatus.FAILED, self._clock() + RETRY_AFTER[rounds_done - 1]

    async def _record(
        self,
        job: SendJob,
        status: AlertStatus,
        attempts: int,
        results: Sequence[dict[str, str]],
        *,
        external_id: str | None = None,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        now = self._clock()
        await in_session_async(
            lambda session: repository.record_result(
                session=session,
                delivery_id=job.delivery_id,
                status=status,
                attempts=attempts,
                results=results,
                now=now,
                external_id=external_id,
                error=error,
                next_attempt_at=next_attempt_at,
            )
        )

    async def _transmit(self, job: SendJob, prepared: Prepared) -> Sent:
        if job.channel is AlertChannel.TELEGRAM and self._telegram is not None:
            if job.kind is AlertKind.ALERT:
                return await self._telegram.send_alert(
                    prepared.address, prepared.text, job.escalation_id
                )
            return await self._telegram.send_notice(prepared.address, prepared.text)
        if job.channel is AlertChannel.SMS and self._sms is not None:
            return await self._sms.send(prepared.address, prepared.text)
        raise SendError(f"{job.channel.value} is not enabled", permanent=True)

    def _prepare(self, session: Session, job: SendJob, study: StudyConfig) -> Prepared | NotSent:
        """The text and address of a claimed delivery, or why it is not sent."""
        found = repository.escalation_with_study_id(
            session=session, escalation_id=job.escalation_id
        )
        if found is None:
            return NotSent(AlertStatus.CANCELLED, "the escalation no longer exists")
        escalation, study_id = found
        if job.kind is AlertKind.ALERT and escalation.status is not EscalationStatus.OPEN:
            return NotSent(AlertStatus.CANCELLED, f"already {escalation.status.value}")
        address = self._address(session, job, study)
        if address is None:
            return NotSent(AlertStatus.UNDELIVERED, f"{job.recipient} has no {job.channel.value}")
        facts = AlertFacts(
            escalation_id=escalation.id,
            study_id=study_id,
            level=escalation.level,
            ack_code=escalation.ack_code,
            created_at=escalation.created_at,
        )
        if job.kind is AlertKind.ACK_NOTICE:
            text = ack_notice_text(
                facts,
                acknowledged_by=_display_name(session, escalation.acknowledged_by),
                resolved=escalation.status is EscalationStatus.RESOLVED,
            )
        else:
            text = alert_text(
                facts,
                channel=job.channel,
                round_number=job.round,
                base_url=self._base_url,
                now=self._clock(),
            )
        return Prepared(text=text, address=address)

    @staticmethod
    def _address(session: Session, job: SendJob, study: StudyConfig) -> str | None:
        """The phone number or chat ID to send to, decrypted just now."""
        if job.staff_user_id is None:
            group = study.escalation.alerts.telegram_group_chat
            is_group = job.channel is AlertChannel.TELEGRAM and job.recipient == GROUP_RECIPIENT
            return group or None if is_group else None
        user = session.get(StaffUser, job.staff_user_id)
        if user is None or not user.active:
            return None
        token = (
            user.telegram_chat_id_encrypted
            if job.channel is AlertChannel.TELEGRAM
            else user.phone_encrypted
        )
        return decrypt(token) if token else None


def _display_name(session: Session, username: str | None) -> str:
    """How staff are named in a notice (their display name; a username if none)."""
    if not username:
        return "a staff member"
    name = session.execute(
        select(StaffUser.display_name).where(StaffUser.username == username)
    ).scalar_one_or_none()
    return name or username


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bot.alerts.worker`: see `bot.core.worker.command`."""
    return command(AlertWorker, argv)


if __name__ == "__main__":
    # Run the imported module's main, so loggers are named bot.alerts.worker, not __main__.
    from bot.alerts.worker import main as imported_main

    sys.exit(imported_main())
