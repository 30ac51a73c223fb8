"""The outreach worker: plans, then sends each due message once (at most once, after a crash).

Every tick (30 s by default):

1. plan: `bot.outreach.planner.sync_plan` inserts the messages due in the next two days
   (idempotent: deterministic keys), and at-risk flags of participants who checked in
   again are cleared;
2. reconcile: each message still 'sending' past its lease (below) is settled from the
   message log;
3. send: the pending messages due by now are claimed in batches with a conditional
   UPDATE (pending -> sending, with this worker's token; PostgreSQL's SKIP LOCKED leaves
   rows another worker is claiming to it), then checked, sent, and recorded as sent,
   skipped or failed, concurrently (below);
4. retry: `bot.messaging.delivery.retry_failed` for each enabled channel.

At most once, and never failed blindly. Just before a claimed message is sent, the worker
notes on it what is about to go out (`detail["handover"]`: the texts, and the newest
message-log ID, above which whatever is sent next is logged). A claim is a lease of
OUTREACH_LEASE_SECONDS from that moment; a message still 'sending' after it belongs to a
worker that stopped mid-send, and the next worker to tick reconciles it from the message
log, where every message to a participant is written before it goes out (and its
provider's delivery reports update it):

- nothing was handed over: it certainly was not sent, and goes back to pending (then sent
  as usual, or skipped as late);
- its texts are in the log after that ID as sent, delivered or accepted by the provider:
  it went out, and is marked sent (a prompt then gets its nudge and at-risk count); as
  suppressed only: skipped; as failed only: failed, and the message log retries them;
- none of its texts are in the log: a one-way text certainly was not sent (the worker
  itself writes the log) and goes back to pending; a check-in prompt, which Rasa sends,
  is looked up in the conversation (each prompt's trigger carries the entity `prompt`
  with its ID): there, it reached Rasa and is marked sent; not there, it never arrived
  and goes back to pending, to be sent now (the lease is far longer than Rasa takes to
  take a trigger in). A text whose send result was never recorded is failed with a note
  and NOT sent again: a duplicate reminder is worse than a missed one.

When no connection to Rasa could be made, a claimed check-in prompt is put back to pending
at once, since it certainly was not sent. A one-way text the channel refused is retried by
`bot.messaging.delivery` from the message log, never by sending the scheduled message again.

Late messages (due while the worker was down, or Rasa was unreachable): sent late within
the study's `outreach.late_grace_minutes` of their due time; older ones are skipped with
a note and a log line.

Checked just before sending (a message that fails a check is skipped with a note):

- the participant is active, has not opted out, is on an enabled SMS or Telegram channel
  and has an address (web chat gets nothing proactive);
- the participant's local time is outside quiet hours (see `bot.outreach.planner` for how
  planned times avoid them; a late message that would now land inside them is skipped);
- check-in prompt: not when a check-in was completed in the 12 hours before;
- nudge: not when the participant wrote anything or completed a check-in since the prompt;
- visit reminder: the visit is still planned at the time the reminder was planned for.

Check-in prompts start the check-in conversation in Rasa (`trigger_intent` of
`start_checkin` with the entity `trigger: schedule`). In an idle conversation the worker
sends what that turn says itself (the opening: prompt and first question) and leaves the
turn to run later with its replies unsent (`bot.outreach.deferred`); SMS openings go in
groups (`OPENING_GROUP`: checked with one statement per check for the whole group,
`bot.outreach.grouped`; noted and logged in one transaction, sent, recorded in one).
Otherwise the turn runs at due time with output on the participant's channel. Nudges,
visit and dose reminders are one-way texts sent with `bot.messaging.delivery.deliver`
(logged, retried, opt-outs kept).

Nudge: once a prompt is sent, one nudge is planned `nudge_after_minutes` later (key
`nudge:<prompt id>`, so at most one per prompt). A nudge that would land in quiet hours is
skipped. After each sent prompt the participant's missed check-ins in a row are counted
(`bot.outreach.engagement`); at `missed_in_a_row_for_risk` they are flagged at risk and
one routine escalation is stored.

Concurrency: a batch is sent OUTREACH_CONCURRENCY messages at a time (a check-in prompt
mostly waits for its Rasa turn), each participant's messages one after another, oldest
first. A message whose participant has an earlier one still pending or held by another
worker goes back to pending (note `WAITS`) and waits for the next tick, so a participant's
messages never overlap or overtake each other across workers either.

The providers' limits are kept where the message is handed to the provider, not here: a
check-in prompt's texts are sent by Rasa's output channel (the Rasa server's
`TwilioSmsOutput` / `TelegramOutput`, through `bot.messaging.delivery`), a reminder's by
this worker, both through the same clients, and the clients wait for `bot.clients.pace`
(Telegram: ~30 a second per bot, ~1 a second per chat; Twilio: what one sender's queue
can hold, as Twilio itself sends each sender's queue at its throughput). With REDIS_URL
set, every process spends the same budget.

Several workers may run on one database (`trialbot run` starts one): claims keep them
apart, so no scheduled message is sent twice, and a worker never reconciles a message
another one is still sending (its lease holds) nor records over a claim it lost (every
update names the claim's token). A worker stalled for longer than its lease between
noting a send and making it could still send after another worker took the message over;
the lease is far longer than a send takes.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.clients.base import SENT, ChannelClient
from bot.clients.rasa_http import RasaApiError, RasaHttpApi, RasaUnavailable
from bot.core.claims import claim_token
from bot.core.languages import LANGUAGE_SLOT
from bot.core.settings import Settings, require_secret
from bot.core.worker import Worker, command
from bot.db.models import (
    Appointment,
    AppointmentStatus,
    Channel,
    MessageLog,
    OutreachStatus,
    Participant,
    ParticipantStatus,
    ScheduledMessage,
)
from bot.db.session import database_check, in_session, in_session_async
from bot.db.types import utcnow
from bot.messaging.delivery import (
    FAILED,
    QUEUED,
    SUPPRESSED,
    Outcome,
    Reconciling,
    Tried,
    deliver,
    deliver_bot_message,
    message_parts,
    outbound_entry,
    retry_failed,
    try_send,
)
from bot.outreach import deferred, engagement, grouped
from bot.outreach.channels import RASA_OUTPUT_CHANNELS, channel_clients, close_clients
from bot.outreach.local_time import in_quiet_hours, spoken_when, zone_of
from bot.outreach.planner import PLAN_AHEAD, plannable_participants, sync_plan
from bot.outreach.repository import (
    HANDOVER,
    Claimed,
    Kind,
    Planned,
    claim_due,
    earlier_unsent,
    expired_claims,
    finish,
    get_message,
    hand_over,
    insert_planned,
    last_log_id,
    outbound_since,
    release,
    take_over,
)
from bot.participants import incentives
from bot.participants.enrollment import address_of
from bot.study.config import StudyConfig, current_study
from bot.study.wording import messages

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
StudySource = Callable[[], StudyConfig]

TICK_SECONDS = 30.0
# A prompt is not sent when a check-in was completed this recently.
RECENT_CHECKIN = timedelta(hours=12)
CHECKIN_INTENT = "start_checkin"
FEEDBACK_INTENT = "give_feedback"
SCHEDULE_TRIGGER = {"trigger": "schedule"}
# Each prompt's trigger names its scheduled message, so a prompt whose send was interrupted
# can be looked up in the conversation (did the request reach Rasa?).
PROMPT_ENTITY = "prompt"
ASK_RASA = "interrupted mid-send and not in the message log: asking Rasa"
# How long a claim holds (OUTREACH_LEASE_SECONDS in `from_settings`).
CLAIM_LEASE = timedelta(minutes=5)
# What Rasa may say when the worker starts a check-in (bot.actions.checkin).
PROMPT_WORDINGS = ("checkin_prompt", "checkin_resume")
INTERRUPTED = (
    "interrupted mid-send (worker stopped), and not found in the message log as sent: "
    "not sent again, at most once"
)
NOT_HANDED_OVER = "interrupted before it was sent (worker stopped): back to pending"
RECONCILED = "found in the message log after the worker stopped mid-send"
# A message-log entry whose send result was never recorded (no provider message ID).
UNKNOWN = "unknown"
WAITS = "waits for an earlier message of the participant's, still being sent: back to pending"
STOPPED = "the worker stopped before sending it: back to pending"
# How many due messages a worker sends at once (OUTREACH_CONCURRENCY in `from_settings`).
CONCURRENCY = 16
# How many due messages a worker claims at a time.
BATCH = 500
# A stopped worker's opening whose send results were never recorded (`_to_message_log`).
LOOKED_UP = (
    "interrupted before its send result was recorded: the message log looks it up at the "
    "provider and sends it only if it never went out"
)
# The handover's mark of a prompt whose opening the worker sends itself.
FAST = "fast"
# How many check-in openings are noted, logged, sent and recorded together: a few
# transactions per group instead of several per opening. A worker stopped mid-group
# leaves at most this many for the next worker to reconcile.
OPENING_GROUP = 64
# Deferred turns (bot.outreach.deferred) a worker runs in Rasa at once, and for how long
# per tick at most: few, so participants' own turns keep most of Rasa's time.
CATCH_UP_CONCURRENCY = 2
CATCH_UP_SECONDS = 20.0


@dataclass(frozen=True)
class Skip:
    """Why a due message is not sent, and how loudly to log it."""

    note: str
    level: int = logging.INFO


class Wait(enum.Enum):
    """A claimed message that must wait for an earlier one of the participant's."""

    WAIT = "wait"


WAIT = Wait.WAIT


@dataclass(frozen=True)
class Part:
    """One logged part of a check-in opening, to send."""

    log_id: int
    text: str
    buttons: list[dict[str, str]]


@dataclass(frozen=True)
class Job:
    """A claimed message that passed its checks, with what to send."""

    message_id: int
    kind: Kind
    participant: Participant
    texts: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    # A check-in prompt the worker sends itself (bot.outreach.deferred): Rasa's opening.
    opening: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Opening:
    """A check-in opening to an idle conversation, noted and logged, to send."""

    job: Job
    address: str
    parts: list[Part]


@dataclass(frozen=True)
class Recorded:
    """What came of one opening's sends, to record."""

    job: Job
    status: OutreachStatus
    note: str | None
    detail: dict[str, Any]


@dataclass
class TickReport:
    """What one tick did."""

    planned: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    caught_up: int = 0

    def count(self, status: OutreachStatus | None) -> None:
        """Add one message's final status."""
        if status is OutreachStatus.SENT:
            self.sent += 1
        elif status is OutreachStatus.SKIPPED:
            self.skipped += 1
        elif status is OutreachStatus.FAILED:
            self.failed += 1


class OutreachWorker(Worker):
    """Plans and sends proactive messages from the due-jobs table; see the module docstring."""

    name = "outreach worker"
    default_interval = TICK_SECONDS
    description = "Send check-in prompts, nudges and reminders when due (until stopped)."

    def __init__(
        self,
        *,
        rasa: RasaHttpApi,
        clients: Mapping[Channel, ChannelClient],
        clock: Clock = utcnow,
        study: StudySource = current_study,
        ahead: timedelta = PLAN_AHEAD,
        batch: int = BATCH,
        lease: timedelta = CLAIM_LEASE,
        concurrency: int = CONCURRENCY,
        catch_up_concurrency: int = CATCH_UP_CONCURRENCY,
        catch_up_seconds: float = CATCH_UP_SECONDS,
    ) -> None:
        super().__init__()
        self._rasa = rasa
        self._clients = dict(clients)
        self._clock = clock
        self._study = study
        self._ahead = ahead
        self._batch = batch
        self._lease = lease
        self._concurrency = max(1, concurrency)
        self._catch_up_concurrency = max(1, catch_up_concurrency)
        self._catch_up_seconds = catch_up_seconds
        self._token = claim_token("outreach")

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utcnow) -> OutreachWorker:
        """A worker for Rasa at RASA_URL and every channel whose credentials are set."""
        token = require_secret("RASA_API_TOKEN", settings.rasa_api_token)
        return cls(
            rasa=RasaHttpApi(settings.rasa_url, token),
            clients=channel_clients(settings),
            clock=clock,
            lease=timedelta(seconds=settings.outreach_lease_seconds),
            concurrency=settings.outreach_concurrency,
        )

    @property
    def clients(self) -> Mapping[Channel, ChannelClient]:
        """The channel clients this worker sends with."""
        return self._clients

    async def tick(self) -> TickReport:
        """Plan, reconcile expired claims, send what is due, and retry failed deliveries."""
        await self.ensure_started()
        study, now = self._study(), self._clock()
        report = TickReport(planned=await asyncio.to_thread(self._plan, study, now))
        for message_id in await in_session_async(
            lambda session: expired_claims(session=session, now=now, lease=self._lease)
        ):
            report.count(await self._reconcile(message_id, study, now))
        await self._send_due(study, now, report)
        report.retried = await self._retry_failed()
        report.caught_up = await self.catch_up()
        return report

    def describe(self) -> str:
        if not self._clients:
            logger.warning("outreach: no participant channel is enabled; nothing will be sent")
        return "channels: " + (", ".join(sorted(c.value for c in self._clients)) or "none")

    async def checks(self) -> dict[str, str]:
        """The database it plans from, and the Rasa server check-in prompts go through."""
        return {
            "database": await asyncio.to_thread(database_check),
            "rasa": await self._rasa.health(),
        }

    async def aclose(self) -> None:
        await close_clients(self.clients)
        await self._rasa.aclose()

    # --- steps -----------------------------------------------------------------------

    def _plan(self, study: StudyConfig, now: datetime) -> int:
        def work(session: Session) -> int:
            engagement.clear_recovered(session=session)
            summary = sync_plan(
                session=session, study=study, now=now, channels=self._clients, ahead=self._ahead
            )
            return summary.added + _plan_milestones(session, study, now, self._clients)

        added: int = in_session(work)
        return added

    async def _send_due(self, study: StudyConfig, now: datetime, report: TickReport) -> None:
        """Claim what is due in batches and send each batch concurrently (see `_dispatch`).

        A message put back to pending in this tick (Rasa unreachable, or waiting for an
        earlier message of the participant's that another worker holds) is not claimed
        again until the next tick.
        """
        held_back: set[int] = set()
        while not self.stopping:
            # Each batch's lease runs from its own claim (a long tick's later batches would
            # otherwise look expired to other workers), and takes what is due by then.
            at = max(now, self._clock())
            claimed = await in_session_async(
                lambda session, at=at: claim_due(  # type: ignore[misc]
                    session=session,
                    now=at,
                    token=self._token,
                    limit=self._batch,
                    skip=held_back,
                )
            )
            if not claimed:
                return
            for message_id, status in await self._dispatch(claimed, study):
                if status is OutreachStatus.PENDING:
                    held_back.add(message_id)
                report.count(status)

    async def _dispatch(
        self, claimed: Sequence[Claimed], study: StudyConfig
    ) -> list[tuple[int, OutreachStatus | None]]:
        """Send claimed messages; each message's final status. Check-in openings (the only
        message of their participant in the batch) go in groups (`_send_openings`);
        every other message one by one (`_dispatch_each`)."""
        per_participant = Counter(message.participant_id for message in claimed)
        singles = [
            message.id for message in claimed if per_participant[message.participant_id] == 1
        ]
        results: list[tuple[int, OutreachStatus | None]] = []
        taken: set[int] = set()
        for start in range(0, len(singles), OPENING_GROUP):
            if self.stopping:
                break
            group = singles[start : start + OPENING_GROUP]
            now = self._clock()
            openings = await in_session_async(
                lambda session, group=group, now=now: self._prepare_openings(  # type: ignore[misc]
                    session, group, study, now
                )
            )
            taken.update(opening.job.message_id for opening in openings)
            results += await self._send_openings(openings, study, now)
        rest = [message for message in claimed if message.id not in taken]
        return results + await self._dispatch_each(rest, study)

    def _prepare_openings(
        self, session: Session, message_ids: Sequence[int], study: StudyConfig, now: datetime
    ) -> list[Opening]:
        """In one transaction: the claimed messages that are check-in prompts to an idle
        conversation, checked all at once (`bot.outreach.grouped`), noted as handed over,
        their turns held and their parts logged as queued (before anything is sent). The
        others are left as they are, for the one-by-one path to check and send."""
        facts = grouped.facts(
            session=session,
            message_ids=message_ids,
            now=now,
            recent=RECENT_CHECKIN,
            rasa_store=deferred.has_rasa_store(session),
        )
        said: dict[str, list[dict[str, Any]]] = {}
        addresses: dict[int, str] = {}
        jobs = []
        for message_id in message_ids:
            job = self._opening_job(facts, message_id, study, now, said)
            address = address_of(job.participant) if job is not None else None
            if job is not None and address is not None:
                jobs.append(job)
                addresses[job.message_id] = address
        if not jobs:
            return []
        log_after = last_log_id(session=session)
        handed = grouped.hand_over_all(
            session=session,
            handovers={job.message_id: self._handover(job, study, now, log_after) for job in jobs},
            messages=facts.messages,
            token=self._token,
            now=now,
        )
        jobs = [job for job in jobs if job.message_id in handed]
        deferred.hold_all(session=session, turns=[self._held_turn(job) for job in jobs])
        logged: list[tuple[Job, str, list[tuple[MessageLog, list[dict[str, str]]]]]] = []
        for job in jobs:
            entries = []
            for message_json in job.opening or ():
                buttons = [dict(button) for button in message_json.get("buttons") or ()]
                texts = message_parts(job.participant, str(message_json["text"]), buttons)
                for index, text in enumerate(texts):
                    these = buttons if index == len(texts) - 1 else []
                    entry = outbound_entry(job.participant, text, QUEUED, buttons=these)
                    entries.append((entry, these))
            session.add_all(entry for entry, _ in entries)
            logged.append((job, addresses[job.message_id], entries))
        session.flush()
        return [
            Opening(job, address, [Part(entry.id, entry.text, these) for entry, these in entries])
            for job, address, entries in logged
        ]

    def _opening_job(
        self,
        facts: grouped.GroupFacts,
        message_id: int,
        study: StudyConfig,
        now: datetime,
        said: dict[str, list[dict[str, Any]]],
    ) -> Job | None:
        """A claimed message as a check-in opening to send in a group, when every check of
        `_prepare` passes and the conversation is idle; None: the one-by-one path decides
        (wait, skip, Rasa's turn at due time, or a channel whose sends go one by one). A
        job with no address is left to it too."""
        message = facts.messages.get(message_id)
        if (
            message is None
            or message.kind != Kind.CHECKIN_PROMPT.value
            or message_id in facts.must_wait
        ):
            return None
        participant = facts.participants.get(message.participant_id)
        if (
            participant is None
            or self._not_now(message, participant, study, now) is not None
            # one by one: a stopped worker's sends stay certain (module doc)
            or not isinstance(self._clients.get(participant.channel), Reconciling)
            or participant.id in facts.checked_in
            or participant.id in facts.busy
        ):
            return None
        language = participant.language
        if language not in said:
            said[language] = deferred.scheduled_opening(study, language)
        return Job(
            message.id,
            Kind.CHECKIN_PROMPT,
            participant,
            detail=dict(message.detail or {}),
            opening=said[language],
        )

    async def _send_openings(
        self, openings: Sequence[Opening], study: StudyConfig, now: datetime
    ) -> list[tuple[int, OutreachStatus | None]]:
        """Send logged openings, `concurrency` at once (each one's parts in order), then
        record every result, each prompt's status and its turn (armed, or dropped when
        nothing went out) in one transaction."""
        if not openings:
            return []
        slots = asyncio.Semaphore(self._concurrency)

        async def send(opening: Opening) -> list[Tried]:
            participant = opening.job.participant
            client = self._clients[participant.channel]
            async with slots:
                return [
                    await try_send(
                        client, opening.address, part.text, part.buttons, part.log_id, 0,
                        participant.language,
                    )
                    for part in opening.parts
                ]  # fmt: skip

        tried = await asyncio.gather(*(send(opening) for opening in openings))
        results = []
        for opening, each in zip(openings, tried, strict=True):
            status, note = _delivery_result([result.outcome for result in each])
            detail = {"message_log_ids": [result.log_id for result in each]}
            results.append(Recorded(opening.job, status, note, detail))

        def record(session: Session) -> None:
            grouped.record_sends(session=session, tried=[one for each in tried for one in each])
            self._record_openings(session, results, study, now)

        await in_session_async(record)
        logger.info("outreach: %s check-in openings sent", len(results))
        return [(result.job.message_id, result.status) for result in results]

    async def _dispatch_each(
        self, claimed: Sequence[Claimed], study: StudyConfig
    ) -> list[tuple[int, OutreachStatus | None]]:
        """Send claimed messages one by one, at most `concurrency` at once; each
        participant's one after another, in order (oldest first)."""
        chains: dict[int, list[int]] = {}
        for message in claimed:
            chains.setdefault(message.participant_id, []).append(message.id)
        slots = asyncio.Semaphore(self._concurrency)

        async def chain(message_ids: list[int]) -> list[tuple[int, OutreachStatus | None]]:
            done: list[tuple[int, OutreachStatus | None]] = []
            for message_id in message_ids:
                async with slots:
                    if self.stopping:
                        await self._release(message_id, STOPPED)
                        done.append((message_id, OutreachStatus.PENDING))
                        continue
                    done.append((message_id, await self._process(message_id, study)))
            return done

        results = await asyncio.gather(*(chain(ids) for ids in chains.values()))
        return [pair for done in results for pair in done]

    async def _release(self, message_id: int, note: str) -> None:
        """Put a claimed message back to pending: it was not sent."""
        await in_session_async(
            lambda session: release(
                session=session, message_id=message_id, token=self._token, note=note
            )
        )

    async def _process(self, message_id: int, study: StudyConfig) -> OutreachStatus | None:
        """Check and send one claimed message; its final status (None: the claim was lost;
        pending: put back)."""
        now = self._clock()
        try:
            job = await self._hand_over(message_id, study, now)
            if job is None:
                logger.warning(
                    "outreach %s: the claim ran out before sending; not sent", message_id
                )
                return None
            if job is WAIT:
                await self._release(message_id, WAITS)
                return OutreachStatus.PENDING
            if isinstance(job, Skip):
                return await self._finish(
                    message_id, OutreachStatus.SKIPPED, job.note, level=job.level
                )
            if job.kind is Kind.CHECKIN_PROMPT:
                return await self._send_prompt(job, study, now)
            status = await self._send_texts(job, now)
            if job.kind is Kind.MILESTONE and status is OutreachStatus.SENT:
                await self._ask_feedback(job)
            return status
        except Exception as error:  # a claimed row never stays in 'sending' because of a bug
            logger.exception("outreach %s failed", message_id)
            return await self._finish(
                message_id, OutreachStatus.FAILED, f"error: {type(error).__name__}"
            )

    def _prepare(
        self, session: Session, message_id: int, study: StudyConfig, now: datetime
    ) -> Job | Skip | Wait:
        """What to send for a claimed message, or why not to send it (or not yet)."""
        message = get_message(session=session, message_id=message_id)
        if message is None:
            return Skip("message not found")
        if earlier_unsent(session=session, message=message, now=now):
            return WAIT
        participant = session.get(Participant, message.participant_id)
        skip = self._not_now(message, participant, study, now)
        if skip is not None or participant is None:
            return skip or Skip("participant not found")
        return _job_for(session, message, participant, study, now)

    def _not_now(
        self,
        message: ScheduledMessage,
        participant: Participant | None,
        study: StudyConfig,
        now: datetime,
    ) -> Skip | None:
        """Why a due message is not to be sent now, whatever its kind (None: it may be):
        too late, no participant, not reachable, or quiet hours."""
        late = now - message.due_at
        if late > timedelta(minutes=study.outreach.late_grace_minutes):
            return Skip(
                f"missed: due {int(late.total_seconds() // 60)} min before it could be sent, "
                f"past the {study.outreach.late_grace_minutes} min grace window",
                logging.WARNING,
            )
        if participant is None:
            return Skip("participant not found")
        unreachable = self._unreachable(participant)
        if unreachable:
            return Skip(unreachable)
        if in_quiet_hours(now, zone_of(participant.timezone), study.quiet_hours):
            return Skip("quiet hours")
        return None

    def _unreachable(self, participant: Participant) -> str | None:
        """Why the participant gets no proactive message now (None: they can)."""
        if participant.status is not ParticipantStatus.ACTIVE:
            return f"participant {participant.status.value}"
        if participant.opted_out_at is not None:
            return "opted out"
        if participant.channel not in RASA_OUTPUT_CHANNELS:
            return f"no proactive messages on {participant.channel.value}"
        if participant.channel not in self._clients:
            return f"{participant.channel.value} is not enabled"
        if participant.address_encrypted is None:
            return "no address (Telegram chat not linked)"
        return None

    @staticmethod
    def _prompt_entities(job: Job) -> dict[str, str]:
        """The entities of a prompt's `start_checkin` trigger."""
        return {
            **SCHEDULE_TRIGGER,
            PROMPT_ENTITY: str(job.message_id),
            LANGUAGE_SLOT: job.participant.language,
        }

    async def _send_opening(self, job: Job, study: StudyConfig, now: datetime) -> OutreachStatus:
        """Send Rasa's opening of a scheduled check-in, then arm its deferred turn (or drop
        it when nothing went out)."""
        participant, client = job.participant, self._clients[job.participant.channel]
        outcomes = []
        for message in job.opening or ():
            outcomes += await deliver_bot_message(
                client, participant, str(message["text"]), message.get("buttons") or ()
            )
        status, note = _delivery_result(outcomes)
        detail = {"message_log_ids": [outcome.log_id for outcome in outcomes]}
        recorded = [Recorded(job, status, note, detail)]
        await in_session_async(lambda session: self._record_openings(session, recorded, study, now))
        logger.info("outreach %s (check-in prompt) %s", job.message_id, status.value)
        return status

    def _record_openings(
        self,
        session: Session,
        results: Sequence[Recorded],
        study: StudyConfig,
        sent_at: datetime,
    ) -> None:
        """Record sent openings: each one's turn armed (sent, or failed and retried from
        the message log: Rasa runs it) or dropped (nothing went out), and each prompt's
        status; a sent prompt gets its nudge and its participant's misses counted. One
        statement per kind of write for all of them."""
        skipped = OutreachStatus.SKIPPED
        deferred.arm_all(
            session=session,
            message_ids=[
                result.job.message_id for result in results if result.status is not skipped
            ],
        )
        deferred.drop_all(
            session=session,
            message_ids=[result.job.message_id for result in results if result.status is skipped],
        )
        sent = [result for result in results if result.status is OutreachStatus.SENT]
        grouped.finish_sent(
            session=session,
            message_ids=[result.job.message_id for result in sent if result.note is None],
            token=self._token,
            sent_at=sent_at,
        )
        for result in results:
            if result.status is OutreachStatus.SENT and result.note is None:
                continue
            sent_now = result.status is OutreachStatus.SENT
            finish(
                session=session,
                message_id=result.job.message_id,
                token=self._token,
                status=result.status,
                note=result.note,
                sent_at=sent_at if sent_now else None,
                detail=None if sent_now else {**result.job.detail, **result.detail},
            )
        self._after_prompts(
            session,
            [(result.job.message_id, result.job.participant.id) for result in sent],
            study,
            sent_at,
        )

    async def _send_prompt(self, job: Job, study: StudyConfig, now: datetime) -> OutreachStatus:
        """Start the check-in: its opening sent here (idle conversation), or in Rasa on the
        participant's channel."""
        if job.opening is not None:
            return await self._send_opening(job, study, now)
        participant = job.participant
        try:
            await self._rasa.trigger_intent(
                sender_id=participant.sender_id,
                intent=CHECKIN_INTENT,
                output_channel=RASA_OUTPUT_CHANNELS[participant.channel],
                entities=self._prompt_entities(job),
            )
        except RasaUnavailable as error:
            note = str(error)
            logger.warning("outreach %s: %s; will try again", job.message_id, note)
            await self._release(job.message_id, note)
            return OutreachStatus.PENDING
        except RasaApiError as error:
            logger.error("outreach %s not sent: %s", job.message_id, error)
            return await self._finish(job.message_id, OutreachStatus.FAILED, str(error))

        await in_session_async(
            lambda session: self._prompt_sent(session, job.message_id, participant.id, study, now)
        )
        logger.info(
            "outreach %s (check-in prompt) sent to participant %s", job.message_id, participant.id
        )
        return OutreachStatus.SENT

    async def _ask_feedback(self, job: Job) -> None:
        """After a milestone's thanks, ask for feedback in Rasa (best effort: logged if not)."""
        participant = job.participant
        try:
            await self._rasa.trigger_intent(
                sender_id=participant.sender_id,
                intent=FEEDBACK_INTENT,
                output_channel=RASA_OUTPUT_CHANNELS[participant.channel],
                entities={
                    "milestone": str(job.detail.get("milestone", "milestone")),
                    LANGUAGE_SLOT: participant.language,
                },
            )
        except (RasaUnavailable, RasaApiError) as error:
            logger.warning("outreach %s: feedback request not sent: %s", job.message_id, error)

    async def _send_texts(self, job: Job, now: datetime) -> OutreachStatus:
        """Send a one-way text on the participant's channel through delivery."""
        client = self._clients[job.participant.channel]
        outcomes = await deliver(client, job.participant, job.texts)
        status, note = _delivery_result(outcomes)
        detail = {**job.detail, "message_log_ids": [outcome.log_id for outcome in outcomes]}
        return await self._finish(
            job.message_id,
            status,
            note,
            sent_at=now if status is OutreachStatus.SENT else None,
            detail=detail,
        )

    async def _finish(
        self,
        message_id: int,
        status: OutreachStatus,
        note: str | None,
        *,
        sent_at: datetime | None = None,
        detail: dict[str, Any] | None = None,
        level: int | None = None,
    ) -> OutreachStatus:
        """Record a claimed message's final status, and log it (failures as warnings)."""
        await in_session_async(
            lambda session: finish(
                session=session,
                message_id=message_id,
                token=self._token,
                status=status,
                note=note,
                sent_at=sent_at,
                detail=detail,
            ),
        )
        if level is None:
            level = logging.WARNING if status is OutreachStatus.FAILED else logging.INFO
        logger.log(level, "outreach %s %s%s", message_id, status.value, f": {note}" if note else "")
        return status

    def _prompt_sent(
        self,
        session: Session,
        message_id: int,
        participant_id: int,
        study: StudyConfig,
        sent_at: datetime,
        note: str | None = None,
    ) -> None:
        """Record a check-in prompt as sent: its nudge, and the missed check-ins in a row."""
        finish(
            session=session,
            message_id=message_id,
            token=self._token,
            status=OutreachStatus.SENT,
            note=note,
            sent_at=sent_at,
        )
        self._after_prompts(session, [(message_id, participant_id)], study, sent_at)

    @staticmethod
    def _after_prompts(
        session: Session, sent: Sequence[tuple[int, int]], study: StudyConfig, sent_at: datetime
    ) -> None:
        """After check-in prompts (message ID, participant ID) were sent: one nudge each,
        and each participant's missed check-ins in a row counted (flagged at risk after
        `missed_in_a_row_for_risk`)."""
        if not sent:
            return
        _plan_nudges(session, sent, study, sent_at)
        engagement.flag_all_if_at_risk(
            session=session,
            participant_ids=sorted({participant_id for _, participant_id in sent}),
            threshold=study.checkins.missed_in_a_row_for_risk,
            now=sent_at,
        )

    async def _hand_over(
        self, message_id: int, study: StudyConfig, now: datetime
    ) -> Job | Skip | Wait | None:
        """Check a claimed message and, if it is to go out, note what is about to go out
        (see the module docstring), in one transaction; None: the claim is lost."""

        def work(session: Session) -> Job | Skip | Wait | None:
            job = self._prepare(session, message_id, study, now)
            if not isinstance(job, Job):
                return job
            return job if self._note_handover(session, job, study, now) else None

        result: Job | Skip | Wait | None = await in_session_async(work)
        return result

    def _note_handover(self, session: Session, job: Job, study: StudyConfig, now: datetime) -> bool:
        """Note on a claimed message what is about to go out; False: the claim is lost."""
        handover = self._handover(job, study, now, last_log_id(session=session))
        handed = hand_over(
            session=session,
            message_id=job.message_id,
            token=self._token,
            now=now,
            handover=handover,
        )
        if handed and job.opening is not None:
            deferred.hold(session=session, **self._held_turn(job))
        return handed

    def _handover(
        self, job: Job, study: StudyConfig, now: datetime, log_after: int
    ) -> dict[str, Any]:
        """What a claimed message is about to send (see the module docstring): its texts,
        and the newest message-log ID before it (`log_after`)."""
        texts = job.texts
        if job.opening is not None:
            texts = [str(message["text"]) for message in job.opening]
        elif job.kind is Kind.CHECKIN_PROMPT:
            texts = [
                text
                for key in PROMPT_WORDINGS
                for text in messages(study, key, language=job.participant.language)
            ]
        return {
            "at": now.isoformat(),
            "log_after": log_after,
            "texts": list(texts),
            # The worker sends the opening itself: the message log has all it sent.
            FAST: job.opening is not None,
        }

    def _held_turn(self, job: Job) -> dict[str, Any]:
        """The deferred turn of an opening the worker sends (`deferred.hold`'s arguments)."""
        return {
            "participant_id": job.participant.id,
            "sender_id": job.participant.sender_id,
            "message_id": job.message_id,
            "intent": CHECKIN_INTENT,
            "entities": self._prompt_entities(job),
            "said": job.opening or [],
        }

    async def _reconcile(
        self, message_id: int, study: StudyConfig, now: datetime
    ) -> OutreachStatus | None:
        """Settle a message a stopped worker left 'sending', from the message log."""

        def work(session: Session) -> tuple[OutreachStatus, str | None] | None:
            message = take_over(
                session=session,
                message_id=message_id,
                token=self._token,
                now=now,
                lease=self._lease,
            )
            if message is None:  # another worker took it over first
                return None
            handover = (message.detail or {}).get(HANDOVER)
            if not handover:
                release(
                    session=session, message_id=message_id, token=self._token, note=NOT_HANDED_OVER
                )
                return OutreachStatus.PENDING, NOT_HANDED_OVER
            logged = [
                entry
                for entry in outbound_since(
                    session=session,
                    participant_id=message.participant_id,
                    after_log_id=int(handover["log_after"]),
                )
                if _is_one_of(entry.text, handover["texts"])
            ]
            prompt = message.kind == Kind.CHECKIN_PROMPT.value
            fast = bool(handover.get(FAST))  # the worker itself sent (and logged) the opening
            handed_to_log = fast and self._to_message_log(session, message.participant_id, logged)
            status, note = _reconciled(logged, prompt=prompt and not fast)
            if handed_to_log:
                status, note = OutreachStatus.SENT, LOOKED_UP
            if fast and status in (OutreachStatus.PENDING, OutreachStatus.SKIPPED):
                deferred.drop(session=session, message_id=message_id)
            elif fast:
                deferred.arm(session=session, message_id=message_id)
            sent_at = datetime.fromisoformat(handover["at"])
            if note == INTERRUPTED and not logged and message.kind == Kind.CHECKIN_PROMPT.value:
                return OutreachStatus.SENDING, ASK_RASA  # settled below, from the conversation
            if status is OutreachStatus.PENDING:
                release(session=session, message_id=message_id, token=self._token, note=note or "")
            elif status is OutreachStatus.SENT and message.kind == Kind.CHECKIN_PROMPT.value:
                self._prompt_sent(session, message_id, message.participant_id, study, sent_at, note)
            else:
                finish(
                    session=session,
                    message_id=message_id,
                    token=self._token,
                    status=status,
                    note=note,
                    sent_at=sent_at if status is OutreachStatus.SENT else None,
                )
            return status, note

        result = await in_session_async(work)
        if result is None:
            return None
        status, note = result
        if note == ASK_RASA:
            status, note = await self._settle_prompt_from_rasa(message_id, study)
        logger.warning(
            "outreach %s was interrupted mid-send: %s (%s)", message_id, status.value, note
        )
        return status

    def _to_message_log(
        self, session: Session, participant_id: int, logged: Sequence[MessageLog]
    ) -> bool:
        """An opening's parts logged but with no send result (the worker stopped between
        logging and recording, mid-group) are left to the message log's retry, which looks
        each one up at the provider before it sends it again (`retry_failed`): sent once
        either way. Only for a channel whose provider can be asked (Twilio); on another
        they stay unknown (failed, not sent again: at most once). True if any was left."""
        participant = session.get(Participant, participant_id)
        client = self._clients.get(participant.channel) if participant else None
        if not isinstance(client, Reconciling):
            return False
        unknown = [entry for entry in logged if _logged_status(entry) == UNKNOWN]
        for entry in unknown:
            entry.delivery_status = FAILED
            entry.error = LOOKED_UP
            entry.next_attempt_at = self._clock()
        return bool(unknown)

    async def _settle_prompt_from_rasa(
        self, message_id: int, study: StudyConfig
    ) -> tuple[OutreachStatus, str]:
        """An interrupted prompt that left nothing in the message log: if its trigger is in
        the conversation, Rasa has it (sent); if not, it never arrived, and it goes back to
        pending to be sent now (the lease is far longer than Rasa takes to take it in)."""

        def load(session: Session) -> tuple[str, int, datetime]:
            message = session.get(ScheduledMessage, message_id)
            participant = session.get(Participant, message.participant_id)
            handover = (message.detail or {}).get(HANDOVER) or {}
            return participant.sender_id, participant.id, datetime.fromisoformat(handover["at"])

        sender_id, participant_id, sent_at = await in_session_async(load)
        try:
            reached = await self._rasa.has_trigger(sender_id, PROMPT_ENTITY, str(message_id))
        except RasaApiError as error:
            note = f"{INTERRUPTED}; Rasa could not say whether it arrived ({error})"
            await self._finish(message_id, OutreachStatus.FAILED, note)
            return OutreachStatus.FAILED, note
        if reached:
            note = "interrupted mid-send; the conversation has the prompt: sent"
            await in_session_async(
                lambda session: self._prompt_sent(
                    session, message_id, participant_id, study, sent_at, note
                )
            )
            return OutreachStatus.SENT, note
        note = "interrupted mid-send; the prompt never reached the conversation: back to pending"
        await in_session_async(
            lambda session: release(
                session=session, message_id=message_id, token=self._token, note=note
            )
        )
        return OutreachStatus.PENDING, note

    async def catch_up(self, seconds: float | None = None) -> int:
        """Run in Rasa the turns of openings this or another worker sent (oldest first),
        their replies collected, not sent (bot.outreach.deferred); for at most `seconds`
        (the worker's `catch_up_seconds`). How many ran."""
        loop = asyncio.get_running_loop()
        until = loop.time() + (self._catch_up_seconds if seconds is None else seconds)
        ran = 0
        while not self.stopping and loop.time() < until:
            ids = await in_session_async(
                lambda session: deferred.due(session=session, limit=self._batch)
            )
            if not ids:
                break
            results = await self._run_turns(ids, until)
            ran += sum(results)
            if not any(results):
                break  # Rasa unreachable, or every one taken by someone else
        return ran

    async def _run_turns(self, ids: Sequence[int], until: float) -> list[bool]:
        """Run deferred turns, `catch_up_concurrency` at a time, until `until`."""
        loop = asyncio.get_running_loop()
        queue = list(ids)
        results: list[bool] = []

        async def runner() -> None:
            while queue and not self.stopping and loop.time() < until:
                results.append(await self._catch_up_one(queue.pop(0)))

        await asyncio.gather(*(runner() for _ in range(self._catch_up_concurrency)))
        return results

    async def _catch_up_one(self, turn_id: int) -> bool:
        """Claim and run one deferred turn through Rasa's API; True when it ran."""
        now = self._clock()
        turn = await in_session_async(
            lambda session: deferred.claim(
                session=session, turn_id=turn_id, token=self._token, now=now
            )
        )
        if turn is None:
            return False
        try:
            said = await self._rasa.run_unsent(
                sender_id=turn.sender_id, intent=turn.intent, entities=turn.entities
            )
        except RasaUnavailable as error:
            unavailable = str(error)
            await in_session_async(
                lambda session: deferred.release(
                    session=session, turn_id=turn_id, token=self._token, note=unavailable
                )
            )
            return False
        except RasaApiError as error:
            failure = str(error)
            logger.error("deferred turn %s failed in Rasa: %s", turn_id, failure)
            await in_session_async(
                lambda session: deferred.finish(
                    session=session,
                    turn_id=turn_id,
                    token=self._token,
                    said_now=None,
                    note=failure,
                )
            )
            return False
        await in_session_async(
            lambda session: deferred.finish(
                session=session, turn_id=turn_id, token=self._token, said_now=said
            )
        )
        return True

    async def _retry_failed(self) -> int:
        """Send again failed deliveries that are due, on every enabled channel."""
        retried = 0
        for client in self._clients.values():
            try:
                retried += await retry_failed(client, now=self._clock())
            except Exception:
                logger.exception("retrying failed %s messages failed", client.channel)
        return retried


def _job_for(
    session: Session,
    message: ScheduledMessage,
    participant: Participant,
    study: StudyConfig,
    now: datetime,
) -> Job | Skip:
    """The kind-specific checks and texts of a due message."""
    try:
        kind = Kind(message.kind)
    except ValueError:
        return Skip(f"unknown kind {message.kind}")
    job = Job(message.id, kind, participant, detail=dict(message.detail or {}))
    if kind is Kind.CHECKIN_PROMPT:
        return _prompt_job(session, job, study, now)
    if kind is Kind.CHECKIN_NUDGE:
        return _nudge_job(session, job, study)
    if kind is Kind.VISIT_REMINDER:
        return _visit_job(session, job, study, now)
    if kind is Kind.MILESTONE:
        return replace(
            job,
            texts=messages(
                study,
                "milestone_thanks",
                language=participant.language,
                bonus=str(job.detail.get("amount", "")),
            ),
        )
    return replace(job, texts=messages(study, "dose_reminder", language=participant.language))


def _plan_milestones(
    session: Session, study: StudyConfig, now: datetime, channels: Mapping[Channel, Any]
) -> int:
    """Accrue the ledger; each newly earned bonus gets a thank-you message (then feedback)."""
    items = []
    for participant in plannable_participants(session=session, channels=channels):
        for entry in incentives.accrue(
            session=session, study=study, participant=participant, now=now
        ):
            if not entry.reason_key.startswith(incentives.BONUS_PREFIX):
                continue
            items.append(
                Planned(
                    participant_id=participant.id,
                    kind=Kind.MILESTONE,
                    due_at=now,
                    dedupe_key=f"milestone:{participant.id}:{entry.reason_key}",
                    detail={
                        "milestone": entry.reason_key.removeprefix(incentives.BONUS_PREFIX),
                        "amount": incentives.money(entry.amount_cents, entry.currency),
                    },
                )
            )
    return insert_planned(session=session, items=items, now=now) if items else 0


def _prompt_job(session: Session, job: Job, study: StudyConfig, now: datetime) -> Job | Skip:
    """A prompt, unless they completed a check-in of their own accord recently. When the
    conversation is idle, the worker sends Rasa's opening itself (bot.outreach.deferred)."""
    participant = job.participant
    if engagement.completed_checkin_between(
        session=session, participant_id=participant.id, start=now - RECENT_CHECKIN
    ):
        return Skip("checked in already")
    busy = deferred.idle_for_opening(
        session=session, participant_id=participant.id, sender_id=participant.sender_id, now=now
    )
    if busy is not None:
        logger.info("outreach %s: through Rasa now, since %s", job.message_id, busy)
        return job
    return replace(job, opening=deferred.scheduled_opening(study, participant.language))


def _nudge_job(session: Session, job: Job, study: StudyConfig) -> Job | Skip:
    """A nudge, unless they wrote or checked in since the prompt."""
    prompt = session.get(ScheduledMessage, job.detail.get("prompt_id"))
    if prompt is None or prompt.sent_at is None:
        return Skip("prompt not sent")
    if engagement.replied_since(session=session, participant=job.participant, since=prompt.sent_at):
        return Skip("replied")
    return replace(job, texts=messages(study, "checkin_nudge", language=job.participant.language))


def _visit_job(session: Session, job: Job, study: StudyConfig, now: datetime) -> Job | Skip:
    """A visit reminder, if the visit is still planned at the time it was planned for."""
    appointment = session.get(Appointment, job.detail.get("appointment_id"))
    if (
        appointment is None
        or appointment.status is not AppointmentStatus.PLANNED
        or appointment.scheduled_at <= now
        or appointment.scheduled_at.isoformat() != job.detail.get("visit_at")
    ):
        return Skip("visit no longer planned at that time")
    language = job.participant.language
    texts = messages(
        study,
        "visit_reminder",
        language=language,
        visit_name=study.visit_name(appointment.visit_key, language=language),
        visit_when=spoken_when(
            appointment.scheduled_at,
            zone_of(job.participant.timezone),
            language=language,
        ),
    )
    return replace(job, texts=texts)


def _plan_nudges(
    session: Session, sent: Sequence[tuple[int, int]], study: StudyConfig, now: datetime
) -> None:
    """One nudge for each sent prompt (prompt ID, participant ID), `nudge_after_minutes`
    later (none when that is 0)."""
    minutes = study.checkins.nudge_after_minutes
    if minutes <= 0:
        return
    nudges = [
        Planned(
            participant_id=participant_id,
            kind=Kind.CHECKIN_NUDGE,
            due_at=now + timedelta(minutes=minutes),
            dedupe_key=f"nudge:{prompt_id}",
            detail={"prompt_id": prompt_id},
        )
        for prompt_id, participant_id in sent
    ]
    insert_planned(session=session, items=nudges, now=now)


def _is_one_of(text: str, texts: Sequence[str]) -> bool:
    """True when a logged text is one of these texts, or a part of one (split for SMS)."""
    logged = " ".join(text.split())
    return bool(logged) and any(logged in " ".join(whole.split()) for whole in texts)


def _reconciled(logged: Sequence[MessageLog], *, prompt: bool) -> tuple[OutreachStatus, str | None]:
    """What became of an interrupted send, from its texts in the message log."""
    if not logged:
        # Rasa sends a prompt (and may still have it); the worker itself sends the texts.
        return (
            (OutreachStatus.FAILED, INTERRUPTED)
            if prompt
            else (OutreachStatus.PENDING, NOT_HANDED_OVER)
        )
    statuses = [_logged_status(entry) for entry in logged]
    if UNKNOWN in statuses and SENT not in statuses:
        return OutreachStatus.FAILED, INTERRUPTED
    status, note = _delivery_result(
        [Outcome(entry.id, logged_as) for entry, logged_as in zip(logged, statuses, strict=True)]
    )
    if status is OutreachStatus.SENT:
        return status, RECONCILED + (f"; {note}" if note else "")
    return status, note


def _logged_status(entry: MessageLog) -> str:
    """A logged message as delivery sees it: sent (the provider took it), failed,
    suppressed, or unknown (logged, but its send never recorded)."""
    if entry.delivery_status in (FAILED, "undelivered"):
        return FAILED
    if entry.delivery_status == SUPPRESSED:
        return SUPPRESSED
    return SENT if entry.external_id else UNKNOWN


def _delivery_result(outcomes: Sequence[Outcome]) -> tuple[OutreachStatus, str | None]:
    """A scheduled message's status from its texts' delivery outcomes."""
    statuses = [outcome.status for outcome in outcomes]
    if not statuses or all(status == SUPPRESSED for status in statuses):
        return OutreachStatus.SKIPPED, "suppressed by delivery (opted out or no address)"
    if all(status in (FAILED, SUPPRESSED) for status in statuses):
        return OutreachStatus.FAILED, "delivery failed; the message log retries it"
    if FAILED in statuses:
        return OutreachStatus.SENT, "partly sent; the message log retries the rest"
    return OutreachStatus.SENT, None


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bot.outreach.worker`: see `bot.core.worker.command`."""
    return command(OutreachWorker, argv)


if __name__ == "__main__":
    # Run the imported module's main, so loggers are named bot.outreach.worker, not __main__.
    from bot.outreach.worker import main as imported_main

    sys.exit(imported_main())
