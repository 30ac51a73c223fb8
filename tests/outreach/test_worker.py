"""The outreach worker with a fake clock, the real database, and stand-ins for Rasa, Twilio
and Telegram: each due message sent exactly once, across restarts too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.clients.base import ChannelClient
from bot.clients.rasa_http import RasaHttpApi
from bot.core.settings import get_settings
from bot.db.models import (
    Channel,
    Checkin,
    CheckinStatus,
    Direction,
    Escalation,
    EscalationLevel,
    EscalationType,
    MessageLog,
    OutreachStatus,
    Participant,
    ScheduledMessage,
)
from bot.db.session import session_scope
from bot.outreach.channels import channel_clients, close_clients
from bot.outreach.worker import OutreachWorker
from bot.study.config import StudyConfig
from tests.outreach.conftest import (
    CHICAGO,
    FakeClock,
    add_appointment,
    add_participant,
    local,
    make_study,
    scheduled,
    update_participant,
    withdraw,
)
from tests.stand_ins.rasa_api import RasaApiStandIn
from tests.stand_ins.telegram_api import TelegramApiStandIn
from tests.stand_ins.twilio_api import TwilioApiStandIn

pytestmark = pytest.mark.usefixtures("database_url")

PROMPTS_ONLY = make_study(
    visits=[],
    dose_reminders={"enabled": False},
    checkins={"default_time": "18:00", "nudge_after_minutes": 120, "missed_in_a_row_for_risk": 3},
    outreach={"late_grace_minutes": 60},
)
SENT, SKIPPED, FAILED, PENDING = (
    OutreachStatus.SENT,
    OutreachStatus.SKIPPED,
    OutreachStatus.FAILED,
    OutreachStatus.PENDING,
)
TELEGRAM_CHAT = "4242"
PHONE = "+15555550123"

WorkerFactory = Callable[..., OutreachWorker]


@pytest.fixture
async def make_worker(clock: FakeClock, rasa: RasaApiStandIn) -> AsyncIterator[WorkerFactory]:
    """Builds workers on the test database (one per "process"); closes their clients."""
    made: list[dict[Channel, ChannelClient]] = []

    def build(
        study: StudyConfig = PROMPTS_ONLY,
        *,
        rasa_api: RasaHttpApi | None = None,
        **options: Any,
    ) -> OutreachWorker:
        clients = channel_clients(get_settings())
        made.append(clients)
        return OutreachWorker(
            rasa=rasa_api or RasaHttpApi(rasa.base_url, rasa.token),
            clients=clients,
            clock=clock,
            study=lambda: study,
            **options,
        )

    yield build
    for clients in made:
        await close_clients(clients)


def telegram_participant(clock: FakeClock, study: StudyConfig = PROMPTS_ONLY, **kwargs: Any):
    return add_participant(
        study=study, study_id="P-TG", address=TELEGRAM_CHAT, enrolled_at=clock(), **kwargs
    )


def sms_participant(clock: FakeClock, study: StudyConfig = PROMPTS_ONLY, **kwargs: Any):
    return add_participant(
        study=study,
        study_id="P-SMS",
        channel=Channel.SMS,
        address=PHONE,
        enrolled_at=clock(),
        **kwargs,
    )


def sent_texts(telegram: TelegramApiStandIn) -> list[str]:
    return [call.params["text"] for call in telegram.calls("sendMessage")]


def add_inbound(participant_id: int, sender_id: str, at: datetime) -> None:
    with session_scope() as session:
        session.add(
            MessageLog(
                participant_id=participant_id,
                sender_id=sender_id,
                channel=Channel.TELEGRAM,
                direction=Direction.INBOUND,
                text="ok",
                created_at=at,
            )
        )


def complete_checkin(participant_id: int, at: datetime) -> None:
    with session_scope() as session:
        session.add(
            Checkin(
                participant_id=participant_id,
                status=CheckinStatus.COMPLETED,
                started_at=at - timedelta(minutes=2),
                completed_at=at,
            )
        )


def escalations() -> list[Escalation]:
    with session_scope() as session:
        return list(session.execute(select(Escalation).order_by(Escalation.id)).scalars())


def at_risk_since(participant_id: int) -> datetime | None:
    with session_scope() as session:
        participant = session.get(Participant, participant_id)
        assert participant is not None
        return participant.at_risk_since


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- check-in prompts -------------------------------------------------------------------


async def test_a_due_prompt_starts_the_checkin_in_rasa_on_telegram(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    who = telegram_participant(clock)
    worker = make_worker()

    await worker.tick()  # 12:00: planned, nothing due
    assert rasa.requests == []

    clock.set(local(2026, 3, 2, 18))
    report = await worker.tick()

    [call] = rasa.requests
    [prompt] = scheduled(kind="checkin_prompt", status=SENT)
    assert (call.conversation_id, call.intent, call.entities) == (
        who.sender_id,
        "start_checkin",
        {"trigger": "schedule", "prompt": str(prompt.id), "language": "en"},  # looked up by ID
    )
    assert (call.output_channel, call.token, call.status) == ("telegram", rasa.token, 200)
    assert report.sent == 1
    assert prompt.sent_at == clock()
    [nudge] = scheduled(kind="checkin_nudge")
    assert (nudge.dedupe_key, nudge.status) == (f"nudge:{prompt.id}", PENDING)
    assert nudge.due_at == clock() + timedelta(minutes=120)

    await worker.tick()
    assert len(rasa.requests) == 1


async def test_an_sms_participants_checkin_is_started_on_the_twilio_channel(
    clock: FakeClock, rasa: RasaApiStandIn, twilio: TwilioApiStandIn, make_worker
) -> None:
    who = sms_participant(clock)
    worker = make_worker()
    await worker.tick()

    clock.set(local(2026, 3, 2, 18, 1))
    await worker.tick()

    [call] = rasa.triggers()
    assert (call.conversation_id, call.output_channel) == (who.sender_id, "twilio")
    assert twilio.messages == []  # Rasa sends the prompt itself, through the channel


async def test_a_prompt_is_not_sent_when_they_checked_in_on_their_own(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    who = telegram_participant(clock)
    worker = make_worker()
    await worker.tick()
    complete_checkin(who.id, local(2026, 3, 2, 15))

    clock.set(local(2026, 3, 2, 18))
    await worker.tick()

    assert rasa.requests == []
    [prompt] = scheduled(kind="checkin_prompt", status=SKIPPED)
    assert prompt.note == "checked in already"


async def test_rasa_unreachable_puts_the_prompt_back_until_rasa_answers(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    who = telegram_participant(clock)
    down = make_worker(rasa_api=RasaHttpApi(closed_port_url(), rasa.token))
    await down.tick()

    clock.set(local(2026, 3, 2, 18))
    await down.tick()
    [prompt] = scheduled(
        kind="checkin_prompt", status=PENDING, dedupe_key=_key(who.id, "2026-03-02")
    )
    assert prompt.note is not None
    assert "not reachable" in prompt.note

    clock.set(local(2026, 3, 2, 18, 10))
    await make_worker().tick()

    assert len(rasa.triggers()) == 1
    assert scheduled(kind="checkin_prompt", status=SENT)[0].id == prompt.id


async def test_a_rasa_error_fails_the_prompt_and_it_is_not_repeated(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    telegram_participant(clock)
    worker = make_worker()
    await worker.tick()
    rasa.fail_next(1, status=500)

    clock.set(local(2026, 3, 2, 18))
    await worker.tick()
    await worker.tick()

    assert [call.status for call in rasa.requests] == [500]
    [prompt] = scheduled(kind="checkin_prompt", status=FAILED)
    assert prompt.note == "Rasa answered HTTP 500"
    assert scheduled(kind="checkin_nudge") == []


async def test_a_channel_rasa_does_not_have_fails_the_prompt(
    clock: FakeClock, telegram: TelegramApiStandIn, make_worker
) -> None:
    telegram_participant(clock)
    with RasaApiStandIn(token="t", channels=()) as no_channels:
        worker = make_worker(rasa_api=RasaHttpApi(no_channels.base_url, "t"))
        await worker.tick()
        clock.set(local(2026, 3, 2, 18))
        await worker.tick()

    [prompt] = scheduled(kind="checkin_prompt", status=FAILED)
    assert prompt.note is not None
    assert "no output channel 'telegram'" in prompt.note


async def test_prompts_go_at_18_local_on_both_sides_of_the_dst_change(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    clock.set(local(2026, 3, 7, 12))
    telegram_participant(clock)
    worker = make_worker()

    for moment in (
        local(2026, 3, 7, 12),
        local(2026, 3, 7, 18),  # CST
        local(2026, 3, 8, 17),  # CDT: 18:00 by yesterday's offset, too early now
        local(2026, 3, 8, 18),  # CDT
    ):
        clock.set(moment)
        await worker.tick()

    triggered = [row.sent_at for row in scheduled(kind="checkin_prompt", status=SENT)]
    assert [when.astimezone(CHICAGO).strftime("%d %H:%M %Z") for when in triggered] == [
        "07 18:00 CST",
        "08 18:00 CDT",
    ]
    assert len(rasa.triggers()) == 2


async def test_a_prompt_in_quiet_hours_goes_when_they_end(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    telegram_participant(clock, checkin_time=local(2026, 3, 2, 22).time())
    worker = make_worker()
    await worker.tick()

    clock.set(local(2026, 3, 2, 22))
    await worker.tick()
    assert rasa.requests == []
    clock.set(local(2026, 3, 3, 8))
    await worker.tick()

    [prompt] = scheduled(kind="checkin_prompt", status=SENT)
    assert prompt.dedupe_key.endswith(":2026-03-02")
    assert len(rasa.triggers()) == 1


# --- restarts ---------------------------------------------------------------------------


def _key(participant_id: int, day: str) -> str:
    return f"checkin:{participant_id}:{day}"


async def test_restarts_in_the_middle_send_each_due_message_exactly_once(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    twilio: TwilioApiStandIn,
    make_worker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    study = make_study(
        visits=[],
        dose_reminders={"enabled": True, "times": ["08:30"]},
        checkins={"nudge_after_minutes": 120},
    )
    by_telegram = telegram_participant(clock, study)
    by_sms = sms_participant(clock, study)

    first = make_worker(study)
    await first.tick()  # 12:00: plans
    clock.set(local(2026, 3, 2, 18))
    await first.tick()  # both prompts
    # The first worker stops; a new one starts on the same database.
    second = make_worker(study)
    clock.advance(minutes=5)
    await second.tick()
    clock.set(local(2026, 3, 2, 20))
    await second.tick()  # both nudges
    third = make_worker(study)
    await third.tick()
    clock.set(local(2026, 3, 3, 8, 30))
    await third.tick()  # both dose reminders
    fourth = make_worker(study)
    clock.advance(minutes=1)
    await fourth.tick()

    assert sorted(call.conversation_id for call in rasa.triggers()) == sorted(
        [by_telegram.sender_id, by_sms.sender_id]
    )
    assert sent_texts(telegram) == [
        'Just a reminder: your check-in is still waiting. Reply "check in" when you are ready.',
        "Good morning! This is your reminder to take your study medicine today.",
    ]
    assert [message["To"] for message in twilio.messages] == [PHONE, PHONE]
    sent = scheduled(status=SENT)
    assert len(sent) == 6
    assert len({row.dedupe_key for row in sent}) == 6
    ours = "\n".join(
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("bot.outreach", "bot.messaging.delivery"))
    )
    assert "outreach" in ours
    assert PHONE not in ours
    assert TELEGRAM_CHAT not in ours
    assert "study medicine" not in ours


class KilledAfterSending(RasaHttpApi):
    """Rasa gets the request, then the worker process dies before recording it."""

    async def trigger_intent(self, **kwargs: Any) -> None:
        await super().trigger_intent(**kwargs)
        raise asyncio.CancelledError  # like SIGKILL mid-send: nothing after this runs


class KilledBeforeSending(RasaHttpApi):
    """The worker process dies after noting the send, before the request leaves it."""

    async def trigger_intent(self, **kwargs: Any) -> None:
        raise asyncio.CancelledError


async def crash_then_restart(
    clock: FakeClock, make_worker, rasa_api: RasaHttpApi
) -> tuple[int, list[str]]:
    """A prompt is due, the worker dies mid-send; another worker takes over after the lease."""
    crashing = make_worker(rasa_api=rasa_api)
    await crashing.tick()
    clock.set(local(2026, 3, 2, 18))
    with pytest.raises(asyncio.CancelledError):
        await crashing.tick()
    [left] = scheduled(kind="checkin_prompt", status=OutreachStatus.SENDING)
    clock.advance(minutes=10)  # past the lease
    restarted = make_worker()
    await restarted.tick()
    await restarted.tick()
    clock.advance(minutes=30)
    await restarted.tick()
    return left.id, [row.status for row in scheduled(kind="checkin_prompt") if row.id == left.id]


async def test_a_prompt_that_reached_rasa_before_a_crash_is_sent_once(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    make_worker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    telegram_participant(clock)
    caplog.set_level(logging.WARNING, logger="bot.outreach.worker")
    left, statuses = await crash_then_restart(
        clock, make_worker, KilledAfterSending(rasa.base_url, rasa.token)
    )

    assert len(rasa.triggers()) == 1  # the conversation has it: not sent again
    assert statuses == [SENT]
    [settled] = [row for row in scheduled(kind="checkin_prompt") if row.id == left]
    assert "the conversation has the prompt" in (settled.note or "")
    assert f"outreach {left} was interrupted mid-send" in caplog.text


async def test_a_prompt_that_never_reached_rasa_before_a_crash_is_sent_once_after(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    make_worker,
) -> None:
    telegram_participant(clock)
    left, statuses = await crash_then_restart(
        clock, make_worker, KilledBeforeSending(rasa.base_url, rasa.token)
    )

    [trigger] = rasa.triggers()  # sent by the worker that took over, once
    assert trigger.entities == {"trigger": "schedule", "prompt": str(left), "language": "en"}
    assert statuses == [SENT]


# --- late, quiet hours, opt-out -------------------------------------------------------


async def test_late_within_the_grace_window_is_sent_beyond_it_skipped_and_logged(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    make_worker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    who = telegram_participant(clock)
    await make_worker().tick()  # plans today and tomorrow, then the worker is down

    clock.set(local(2026, 3, 2, 18, 45))  # 45 min late: within 60
    await make_worker().tick()
    caplog.set_level(logging.INFO, logger="bot.outreach.worker")
    clock.set(local(2026, 3, 3, 19, 30))  # tomorrow's prompt 90 min late: beyond
    await make_worker().tick()

    assert len(rasa.triggers()) == 1
    rows = {row.dedupe_key: row for row in scheduled(kind="checkin_prompt")}
    assert rows[_key(who.id, "2026-03-02")].status is SENT
    skipped = rows[_key(who.id, "2026-03-03")]
    assert skipped.status is SKIPPED
    assert (
        skipped.note == "missed: due 90 min before it could be sent, past the 60 min grace window"
    )
    [line] = [r for r in caplog.records if r.getMessage().startswith(f"outreach {skipped.id} ")]
    assert line.levelno == logging.WARNING
    assert line.getMessage() == f"outreach {skipped.id} skipped: {skipped.note}"


async def test_a_late_message_that_would_land_in_quiet_hours_is_skipped(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    telegram_participant(clock, checkin_time=local(2026, 3, 2, 20, 30).time())
    await make_worker().tick()

    clock.set(local(2026, 3, 2, 21, 10))  # 40 min late, within grace, but quiet hours began
    await make_worker().tick()

    assert rasa.requests == []
    [prompt] = [row for row in scheduled(kind="checkin_prompt") if row.status is SKIPPED]
    assert prompt.note == "quiet hours"


async def test_opted_out_and_withdrawn_participants_get_nothing(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    twilio: TwilioApiStandIn,
    make_worker,
) -> None:
    opted = telegram_participant(clock)
    gone = sms_participant(clock)
    worker = make_worker()
    await worker.tick()  # planned for both
    update_participant(opted.id, opted_out_at=clock())
    withdraw(gone.id)

    clock.set(local(2026, 3, 2, 18))
    await worker.tick()

    assert rasa.requests == []
    notes = {row.participant_id: row.note for row in scheduled(status=SKIPPED)}
    assert notes == {opted.id: "opted out", gone.id: "participant withdrawn"}


# --- nudges -------------------------------------------------------------------------------


async def test_a_nudge_goes_when_the_prompt_got_no_reply(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    telegram_participant(clock)
    worker = make_worker()
    await worker.tick()
    clock.set(local(2026, 3, 2, 18))
    await worker.tick()

    clock.set(local(2026, 3, 2, 19, 59))
    await worker.tick()
    assert telegram.calls("sendMessage") == []
    clock.set(local(2026, 3, 2, 20, 0))
    await worker.tick()
    await worker.tick()

    [call] = telegram.calls("sendMessage")
    assert call.params["chat_id"] == TELEGRAM_CHAT
    assert "check-in is still waiting" in call.params["text"]
    [nudge] = scheduled(kind="checkin_nudge", status=SENT)
    assert nudge.detail is not None
    assert len(nudge.detail["message_log_ids"]) == 1


@pytest.mark.parametrize("answered", ["wrote back", "completed the check-in"])
async def test_no_nudge_after_a_reply_or_a_completed_checkin(
    answered: str,
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    make_worker,
) -> None:
    who = telegram_participant(clock)
    worker = make_worker()
    await worker.tick()
    clock.set(local(2026, 3, 2, 18))
    await worker.tick()
    if answered == "wrote back":
        add_inbound(who.id, who.sender_id, local(2026, 3, 2, 18, 5))
    else:
        complete_checkin(who.id, local(2026, 3, 2, 18, 20))

    clock.set(local(2026, 3, 2, 20))
    await worker.tick()

    assert telegram.calls("sendMessage") == []
    [nudge] = scheduled(kind="checkin_nudge")
    assert (nudge.status, nudge.note) == (SKIPPED, "replied")


async def test_a_nudge_that_would_land_in_quiet_hours_is_skipped(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    telegram_participant(clock, checkin_time=local(2026, 3, 2, 20).time())
    worker = make_worker()
    await worker.tick()
    clock.set(local(2026, 3, 2, 20))
    await worker.tick()

    clock.set(local(2026, 3, 2, 22))
    await worker.tick()

    assert telegram.calls("sendMessage") == []
    [nudge] = scheduled(kind="checkin_nudge")
    assert (nudge.status, nudge.note) == (SKIPPED, "quiet hours")


# --- at risk of dropping out ----------------------------------------------------------------


async def test_missed_checkins_in_a_row_flag_the_participant_once_and_a_checkin_clears_it(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    study = make_study(
        visits=[],
        dose_reminders={"enabled": False},
        checkins={"nudge_after_minutes": 0, "missed_in_a_row_for_risk": 3},
    )
    who = telegram_participant(clock, study)
    worker = make_worker(study)

    async def prompt_on(day: int) -> None:
        clock.set(local(2026, 3, day, 18))
        await worker.tick()

    for day in (2, 3, 4):
        await prompt_on(day)
    assert at_risk_since(who.id) is None  # the 4 March prompt is not missed yet
    await prompt_on(5)  # 2, 3 and 4 March were missed
    assert at_risk_since(who.id) == clock()
    await prompt_on(6)

    [escalation] = escalations()
    assert (escalation.participant_id, escalation.level, escalation.type) == (
        who.id,
        EscalationLevel.ROUTINE,
        EscalationType.OTHER,
    )
    assert escalation.reason == "missed 3 check-ins in a row: at risk of dropping out"

    complete_checkin(who.id, local(2026, 3, 6, 18, 30))
    clock.set(local(2026, 3, 6, 19))
    await worker.tick()
    assert at_risk_since(who.id) is None

    for day in (7, 8, 9):
        await prompt_on(day)
    assert len(escalations()) == 1  # 7 and 8 March missed: not three in a row yet
    await prompt_on(10)
    assert len(escalations()) == 2
    assert len(rasa.triggers()) == 9


# --- visit and dose reminders -------------------------------------------------------------


async def test_a_visit_reminder_goes_by_sms_with_the_visit_and_its_local_time(
    clock: FakeClock, rasa: RasaApiStandIn, twilio: TwilioApiStandIn, make_worker
) -> None:
    study = make_study(dose_reminders={"enabled": False})
    who = add_participant(
        study=study,
        study_id="P-SMS",
        channel=Channel.SMS,
        address=PHONE,
        enrolled_at=clock() - timedelta(days=300),  # the planned visits are all past
    )
    add_appointment(who.id, "week_4", local(2026, 3, 4, 14))
    worker = make_worker(study)
    await worker.tick()

    clock.set(local(2026, 3, 2, 14))
    await worker.tick()

    [sms] = twilio.messages
    assert sms["To"] == PHONE
    assert sms["Body"].startswith(
        "Reminder: your Week 4 visit is on Wednesday, March 4 at 2:00 PM at Lakeview Lung Clinic."
    )
    [reminder] = scheduled(kind="visit_reminder", status=SENT)
    assert reminder.dedupe_key.endswith(":48h")


async def test_a_dose_reminder_goes_by_telegram_when_the_study_asks_for_it(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    study = make_study(visits=[], dose_reminders={"enabled": True, "times": ["08:30"]})
    telegram_participant(clock, study)
    worker = make_worker(study)
    await worker.tick()

    clock.set(local(2026, 3, 3, 8, 30))
    await worker.tick()

    assert sent_texts(telegram) == [
        "Good morning! This is your reminder to take your study medicine today."
    ]


async def test_a_reminder_telegram_refuses_is_failed_with_a_note(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    study = make_study(visits=[], dose_reminders={"enabled": True, "times": ["08:30"]})
    telegram_participant(clock, study)
    worker = make_worker(study)
    await worker.tick()
    telegram.fail_next(3, status=500)

    clock.set(local(2026, 3, 3, 8, 30))
    await worker.tick()

    [reminder] = scheduled(kind="dose_reminder", status=FAILED)
    assert reminder.note == "delivery failed; the message log retries it"
    assert len(telegram.calls("sendMessage", succeeded_only=False)) == 3


# --- running ----------------------------------------------------------------------------------


async def test_run_forever_stops_cleanly_on_sigterm(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    telegram_participant(clock)
    worker = make_worker()
    running = asyncio.create_task(worker.run_forever(interval=0.05))
    await asyncio.sleep(0.3)

    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(running, timeout=10)

    assert running.exception() is None
    assert len(scheduled(kind="checkin_prompt")) == 2  # it ticked before it stopped


def test_trialbot_worker_once_plans_from_the_settings(
    rasa: RasaApiStandIn, telegram: TelegramApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import main

    monkeypatch.setenv("RASA_URL", rasa.base_url)
    monkeypatch.setenv("RASA_API_TOKEN", rasa.token)
    get_settings.cache_clear()
    now = datetime.now().astimezone()
    who = add_participant(
        study=PROMPTS_ONLY, study_id="P-CLI", address=TELEGRAM_CHAT, enrolled_at=now
    )

    assert main(["worker", "--once"]) == 0
    assert {row.participant_id for row in scheduled()} == {who.id}


def test_trialbot_worker_refuses_to_start_without_a_rasa_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.setenv("RASA_API_TOKEN", "")
    get_settings.cache_clear()

    assert main(["worker", "--once"]) == 2
    assert "RASA_API_TOKEN is not set" in capsys.readouterr().err


def test_trialbot_run_starts_the_worker() -> None:
    from bot.supervisor import process_commands

    command = process_commands(get_settings())["worker"]
    assert command.endswith("-m bot.outreach.worker")


async def test_a_day_of_ticks_sends_one_prompt_and_leaves_nothing_sending(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    make_worker,
) -> None:
    telegram_participant(clock)
    worker = make_worker()
    for _ in range(24 * 4):
        await worker.tick()
        clock.advance(minutes=15)

    with session_scope() as session:
        left = session.execute(
            select(ScheduledMessage).where(
                ScheduledMessage.status.in_([OutreachStatus.SENDING]),
            )
        ).all()
    assert left == []
    assert len(rasa.triggers()) == 1


# --- milestones (bot/participants/incentives.py) -------------------------------------


async def test_a_milestone_bonus_is_thanked_once_then_feedback_is_asked(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, make_worker
) -> None:
    from bot.db.models import AppointmentStatus
    from bot.participants.incentives import set_visit_status

    study = make_study(dose_reminders={"enabled": False})
    who = telegram_participant(clock, study=study)
    appointment = add_appointment(who.id, "week_12", clock() - timedelta(hours=3))
    with session_scope() as session:
        set_visit_status(session=session, appointment_id=appointment, status=AppointmentStatus.DONE)
    worker = make_worker(study)

    await worker.tick()
    await worker.tick()

    thanks = [text for text in sent_texts(telegram) if "bonus" in text]
    assert thanks == [
        "Thank you! You have reached a big step in the study, and you have earned a $50 "
        "bonus. We will pay it with your next payment."
    ]
    feedback = [call for call in rasa.requests if call.intent == "give_feedback"]
    assert [(call.conversation_id, call.entities) for call in feedback] == [
        (who.sender_id, {"milestone": "week_12", "language": "en"})
    ]
    [milestone] = scheduled(kind="milestone")
    assert milestone.status == SENT
