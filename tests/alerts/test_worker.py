"""The alert worker against the stand-in Telegram and Twilio APIs, with a clock tests move.

Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.alerts.worker import CATCH_UP, CLAIM_LEASE, RETRY_AFTER, AlertWorker
from bot.core.settings import get_settings
from bot.db.models import (
    AlertChannel,
    AlertDelivery,
    AlertKind,
    AlertStatus,
    Escalation,
    EscalationLevel,
    EscalationStatus,
    EscalationType,
    Participant,
    StaffUser,
)
from bot.db.session import session_scope
from bot.escalation.queue import acknowledge
from bot.escalation.records import raise_escalation
from bot.study.config import load_study_config
from bot.supervisor import process_commands
from tests.alerts.support import (
    GROUP_CHAT,
    PARTICIPANT_PHONE,
    PARTICIPANT_WORDS,
    PUBLIC_URL,
    STAFF,
    FakeClock,
    alerts_section,
    deliveries,
    enroll_sms,
    escalation,
    raise_for,
    sms_texts,
    telegram_texts,
    write_study,
)
from tests.conftest import EXAMPLE_STUDY
from tests.stand_ins.telegram_api import BLOCKED, TelegramApiStandIn
from tests.stand_ins.twilio_api import INVALID_NUMBER, TwilioApiStandIn

JOY, BOB, CARA, RITA = STAFF["joy"], STAFF["bob"], STAFF["cara"], STAFF["rita"]


def worker(clock: FakeClock) -> AlertWorker:
    """A worker as `trialbot run` makes it, on the test's clock."""
    return AlertWorker.from_settings(get_settings(), clock=clock)


def targets(escalation_id: int, round_number: int, kind: AlertKind = AlertKind.ALERT) -> set:
    """(channel, recipient) of one round's deliveries."""
    return {
        (row.channel.value, row.recipient)
        for row in deliveries(escalation_id)
        if row.round == round_number and row.kind is kind
    }


def everything_sent(telegram_api: TelegramApiStandIn, twilio_api: TwilioApiStandIn) -> str:
    """Every request both stand-ins received, as one text to search."""
    telegram = [json.dumps(request.params) for request in telegram_api.requests]
    sms = [json.dumps(asdict(request)) for request in twilio_api.requests]
    return "\n".join([*telegram, *sms])


@pytest.fixture
def participant(staff: dict[str, StaffUser]) -> Participant:
    """P-001, an SMS participant, with the study team in place."""
    return enroll_sms()


# --- the first alert --------------------------------------------------------------------


async def test_an_urgent_escalation_is_sent_to_on_call_staff_and_the_group(
    participant, clock, telegram_api, twilio_api
) -> None:
    raised = raise_for(participant, EscalationLevel.URGENT)
    report = await worker(clock).run_once()

    assert report.planned == 1
    assert targets(raised.id, 0) == {
        ("console", "queue"),
        ("console", "staff:joy"),
        ("telegram", "staff:joy"),
        ("sms", "staff:joy"),
        ("telegram", "group chat"),
    }
    assert {row.status for row in deliveries(raised.id)} == {AlertStatus.SENT}
    url = f"{PUBLIC_URL}/console/escalations/{raised.id}"
    head = f"URGENT alert #{raised.id}: P-001"
    assert telegram_texts(telegram_api, JOY.chat_id) == [
        f"{head}\nOpen: {url}\nPress Acknowledge, or text ACK {raised.ack_code}."
    ]
    assert telegram_texts(telegram_api, GROUP_CHAT) == telegram_texts(telegram_api, JOY.chat_id)
    assert sms_texts(twilio_api, JOY.phone) == [
        f"{head}\nOpen: {url}\nReply ACK {raised.ack_code} to acknowledge."
    ]
    [call, _] = telegram_api.calls("sendMessage")
    buttons = [row[0] for row in call.params["reply_markup"]["inline_keyboard"]]
    assert [(b["text"], b["callback_data"]) for b in buttons] == [
        ("Acknowledge", f"ack:{raised.id}"),
        ("Take over the chat", f"take:{raised.id}"),
    ]


async def test_alerts_carry_no_words_no_phone_number_no_name_and_no_reason(
    participant, clock, telegram_api, twilio_api
) -> None:
    raise_for(participant, EscalationLevel.EMERGENCY, reason="red flag: self harm")
    await worker(clock).run_once()

    sent = everything_sent(telegram_api, twilio_api)
    assert "EMERGENCY alert" in sent and "P-001" in sent
    private = (PARTICIPANT_WORDS, "neighbour", "Ann Smith", "555-0199", PARTICIPANT_PHONE)
    for word in (*private, "self harm", "red flag", "BREATHE-24", "emergency\n"):
        assert word not in sent


async def test_each_staff_member_gets_the_channels_their_account_has(
    participant, clock, telegram_api, twilio_api
) -> None:
    with session_scope() as session:
        session.execute(
            update(StaffUser).where(StaffUser.username == "joy").values(phone_encrypted=None)
        )
    raised = raise_for(participant)
    await worker(clock).run_once()

    assert ("sms", "staff:joy") not in targets(raised.id, 0)
    assert ("telegram", "staff:joy") in targets(raised.id, 0)
    assert sms_texts(twilio_api, JOY.phone) == []


async def test_with_the_default_config_escalations_are_shown_in_the_console_only(
    participant, clock, telegram_api, twilio_api, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("STUDY_CONFIG", str(write_study(tmp_path / "plain.yml", None)))
    get_settings.cache_clear()
    raised = raise_for(participant, EscalationLevel.EMERGENCY)
    await worker(clock).run_once()

    assert targets(raised.id, 0) == {("console", "queue")}
    assert telegram_api.requests == []
    assert twilio_api.requests == []


async def test_a_channel_without_credentials_is_left_out(
    participant, clock, telegram_api, twilio_api, monkeypatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
    get_settings.cache_clear()
    raised = raise_for(participant)
    await worker(clock).run_once()

    assert targets(raised.id, 0) == {
        ("console", "queue"),
        ("console", "staff:joy"),
        ("sms", "staff:joy"),
    }
    assert telegram_api.requests == []


async def test_routine_escalations_go_to_the_console_and_are_never_re_sent(
    participant, clock, telegram_api, twilio_api
) -> None:
    raised = raise_for(participant, EscalationLevel.ROUTINE)
    alerts = worker(clock)
    await alerts.run_once()
    clock.advance(days=3)
    await alerts.run_once()

    assert [(row.round, row.channel, row.recipient) for row in deliveries(raised.id)] == [
        (0, AlertChannel.CONSOLE, "queue"),
        (0, AlertChannel.CONSOLE, "staff:joy"),
    ]
    assert telegram_api.requests == []


async def test_escalations_older_than_the_catch_up_window_are_left_to_the_console(
    participant, clock, telegram_api
) -> None:
    raised = raise_for(participant)
    clock.advance(seconds=CATCH_UP.total_seconds() + 60)
    await worker(clock).run_once()

    assert deliveries(raised.id) == []
    assert telegram_api.requests == []


# --- re-escalation ----------------------------------------------------------------------


async def test_an_unacknowledged_urgent_alert_goes_to_the_backup_then_to_everyone(
    participant, clock, telegram_api, twilio_api
) -> None:
    raised = raise_for(participant, EscalationLevel.URGENT)  # 15 minutes in the example
    alerts = worker(clock)
    await alerts.run_once()

    clock.now = raised.created_at + timedelta(minutes=14, seconds=59)
    assert (await alerts.run_once()).re_escalated == 0
    clock.now = raised.created_at + timedelta(minutes=15)
    assert (await alerts.run_once()).re_escalated == 1
    assert targets(raised.id, 1) == {
        ("console", "queue"),
        ("console", "staff:bob"),
        ("telegram", "staff:bob"),
        ("sms", "staff:bob"),
    }
    [backup] = telegram_texts(telegram_api, BOB.chat_id)
    assert backup.startswith(f"BACKUP - not acknowledged after 15 min. URGENT alert #{raised.id}")

    clock.now = raised.created_at + timedelta(minutes=30)
    assert (await alerts.run_once()).re_escalated == 1
    assert targets(raised.id, 2) == {
        ("console", "queue"),
        *{
            (channel, f"staff:{name}")
            for channel in ("telegram", "sms", "console")
            for name in ("joy", "bob", "cara")
        },
        ("telegram", "group chat"),
    }
    assert telegram_texts(telegram_api, CARA.chat_id)[0].startswith(
        "ALL STAFF - still not acknowledged after 30 min."
    )
    assert telegram_texts(telegram_api, RITA.chat_id) == []  # a researcher cannot act on it

    clock.advance(hours=2)
    assert (await alerts.run_once()).re_escalated == 0
    assert {row.round for row in deliveries(raised.id)} == {0, 1, 2}


async def test_an_emergency_is_re_sent_after_its_own_shorter_target(
    participant, clock, telegram_api
) -> None:
    raised = raise_for(participant, EscalationLevel.EMERGENCY)  # 5 minutes
    alerts = worker(clock)
    await alerts.run_once()
    clock.now = raised.created_at + timedelta(minutes=5)
    await alerts.run_once()

    assert targets(raised.id, 1) >= {("telegram", "staff:bob")}


async def test_an_acknowledged_alert_is_not_re_sent_and_the_others_are_told(
    participant, clock, telegram_api, twilio_api
) -> None:
    raised = raise_for(participant)
    alerts = worker(clock)
    await alerts.run_once()
    with session_scope() as session:
        acknowledge(session=session, escalation_id=raised.id, actor="joy", via="console")

    report = await alerts.run_once()
    clock.now = raised.created_at + timedelta(hours=1)
    await alerts.run_once()

    assert report.notices == 1
    assert {row.round for row in deliveries(raised.id) if row.kind is AlertKind.ALERT} == {0}
    # Joy acknowledged it herself: only the group hears.
    assert targets(raised.id, 0, AlertKind.ACK_NOTICE) == {
        ("console", "queue"),
        ("telegram", "group chat"),
    }
    assert telegram_texts(telegram_api, GROUP_CHAT)[-1] == (
        f"Acknowledged by Nurse Joy: URGENT alert #{raised.id} (P-001). No action needed from you."
    )
    assert len(telegram_texts(telegram_api, JOY.chat_id)) == 1
    assert len(sms_texts(twilio_api, JOY.phone)) == 1


async def test_when_someone_else_acknowledges_the_on_call_nurse_is_told_everywhere(
    participant, clock, telegram_api, twilio_api
) -> None:
    raised = raise_for(participant)
    alerts = worker(clock)
    await alerts.run_once()
    with session_scope() as session:
        acknowledge(session=session, escalation_id=raised.id, actor="bob", via="sms")
    await alerts.run_once()

    assert targets(raised.id, 0, AlertKind.ACK_NOTICE) == {
        ("console", "queue"),
        ("telegram", "group chat"),
        ("telegram", "staff:joy"),
        ("sms", "staff:joy"),
    }
    assert sms_texts(twilio_api, JOY.phone)[-1].startswith("Acknowledged by Dr Bob")


async def test_alerts_still_waiting_when_someone_acknowledges_are_cancelled(
    participant, clock, telegram_api, twilio_api
) -> None:
    raised = raise_for(participant)
    alerts = worker(clock)
    telegram_api.fail_next(50, method="sendMessage")
    await alerts.run_once()
    with session_scope() as session:
        acknowledge(session=session, escalation_id=raised.id, actor="joy", via="console")
    clock.advance(minutes=1)
    report = await alerts.run_once()

    assert report.cancelled == 2  # Joy's chat and the group
    statuses = {
        (row.channel, row.status) for row in deliveries(raised.id) if row.kind is AlertKind.ALERT
    }
    assert (AlertChannel.TELEGRAM, AlertStatus.CANCELLED) in statuses
    assert (AlertChannel.SMS, AlertStatus.SENT) in statuses


# --- across restarts --------------------------------------------------------------------


async def test_a_restarted_worker_sends_each_round_exactly_once(
    participant, clock, telegram_api, twilio_api
) -> None:
    raised = raise_for(participant)
    await worker(clock).run_once()
    await worker(clock).run_once()
    assert len(telegram_api.calls("sendMessage")) == 2  # Joy and the group

    clock.now = raised.created_at + timedelta(minutes=16)
    await worker(clock).run_once()
    await worker(clock).run_once()
    assert len(telegram_texts(telegram_api, BOB.chat_id)) == 1
    assert len(sms_texts(twilio_api, BOB.phone)) == 1

    clock.now = raised.created_at + timedelta(minutes=31)
    first, second = worker(clock), worker(clock)
    await first.tick()
    await second.tick()  # two workers at once: the claims keep them apart
    await first.wait_idle()
    await second.wait_idle()
    assert len(telegram_texts(telegram_api, CARA.chat_id)) == 1
    assert len(telegram_texts(telegram_api, JOY.chat_id)) == 2  # round 0, then round 2


async def test_workers_ticking_at_once_send_each_delivery_exactly_once(
    participant, clock, telegram_api, twilio_api
) -> None:
    raised = [raise_for(participant) for _ in range(4)]
    first, second, third = worker(clock), worker(clock), worker(clock)

    await asyncio.gather(first.tick(), second.tick(), third.tick())
    await asyncio.gather(first.wait_idle(), second.wait_idle(), third.wait_idle())
    clock.now = raised[0].created_at + timedelta(minutes=16)  # the backup round, at once too
    await asyncio.gather(first.tick(), second.tick(), third.tick())
    await asyncio.gather(first.wait_idle(), second.wait_idle(), third.wait_idle())

    sent = [row for row in deliveries() if row.channel is not AlertChannel.CONSOLE]
    assert {(row.round, row.status, row.attempts) for row in sent} == {
        (0, AlertStatus.SENT, 1),
        (1, AlertStatus.SENT, 1),
    }
    assert len(telegram_api.calls("sendMessage")) + len(twilio_api.messages) == len(sent)
    assert len(telegram_texts(telegram_api, JOY.chat_id)) == 4
    assert len(telegram_texts(telegram_api, BOB.chat_id)) == 4


async def test_a_send_interrupted_by_a_crash_is_sent_again_once_its_claim_expires(
    participant, clock, telegram_api
) -> None:
    raised = raise_for(participant)
    await worker(clock).run_once()
    with session_scope() as session:  # as a worker leaves them if it stops mid-send
        session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.channel == AlertChannel.TELEGRAM)
            .values(status=AlertStatus.SENDING, next_attempt_at=clock.now + CLAIM_LEASE)
        )

    restarted = worker(clock)
    await restarted.run_once()
    assert len(telegram_texts(telegram_api, JOY.chat_id)) == 1  # the claim still holds
    clock.advance(seconds=CLAIM_LEASE.total_seconds())
    await restarted.run_once()

    assert {row.status for row in deliveries(raised.id)} == {AlertStatus.SENT}
    assert len(telegram_texts(telegram_api, JOY.chat_id)) == 2  # at least once, never zero


# --- failures ---------------------------------------------------------------------------


async def test_a_failing_send_is_retried_with_backoff_then_marked_undelivered(
    participant, clock, telegram_api, twilio_api
) -> None:
    raised = raise_for(participant)
    alerts = worker(clock)
    twilio_api.fail_next(100)
    await alerts.run_once()

    [sms] = [row for row in deliveries(raised.id) if row.channel is AlertChannel.SMS]
    assert (sms.status, sms.attempts) == (AlertStatus.FAILED, 3)
    assert sms.next_attempt_at == clock.now + RETRY_AFTER[0]
    assert [entry["result"] for entry in sms.attempt_log] == ["Twilio error 500 (HTTP 500)"] * 3

    for wait in RETRY_AFTER:
        await alerts.run_once()  # not due yet: nothing is tried
        clock.advance(seconds=wait.total_seconds())
        await alerts.run_once()

    [sms] = [row for row in deliveries(raised.id) if row.channel is AlertChannel.SMS]
    assert sms.status is AlertStatus.UNDELIVERED
    assert sms.attempts == 3 * (1 + len(RETRY_AFTER))
    assert len(sms.attempt_log) == sms.attempts
    assert sms.next_attempt_at is None


async def test_a_send_that_recovers_is_recorded_as_sent(
    participant, clock, telegram_api, twilio_api
) -> None:
    raised = raise_for(participant)
    twilio_api.fail_next(1)
    await worker(clock).run_once()

    [sms] = [row for row in deliveries(raised.id) if row.channel is AlertChannel.SMS]
    assert (sms.status, sms.attempts) == (AlertStatus.SENT, 2)
    assert [entry["result"] for entry in sms.attempt_log][-1] == "sent"
    assert sms.external_id and sms.external_id.startswith("SM")


async def test_a_permanent_refusal_is_undelivered_at_once(
    participant, clock, telegram_api, twilio_api
) -> None:
    raised = raise_for(participant)
    telegram_api.fail_next(1, status=403, description=BLOCKED, method="sendMessage")
    twilio_api.fail_next(1, status=400, code=INVALID_NUMBER, message="Invalid 'To' number")
    await worker(clock).run_once()

    undelivered = {
        (row.channel, row.recipient)
        for row in deliveries(raised.id)
        if row.status is AlertStatus.UNDELIVERED
    }
    assert (AlertChannel.SMS, "staff:joy") in undelivered
    assert len(undelivered) == 2
    assert all(row.attempts <= 1 for row in deliveries(raised.id))


async def test_the_worker_reads_everything_from_the_tables(
    participant, clock, telegram_api
) -> None:
    """A handoff escalation stored by the actions' code path is found and delivered."""
    with session_scope() as session:
        stored = raise_escalation(
            session=session,
            participant_id=participant.id,
            level=EscalationLevel.URGENT,
            type=EscalationType.HANDOFF,
            reason="asked to talk to a person",
        )
        escalation_id = stored.id
    await worker(clock).run_once()

    assert "URGENT alert" in telegram_texts(telegram_api, JOY.chat_id)[0]
    assert escalation(escalation_id).status is EscalationStatus.OPEN


async def test_a_resolved_escalation_gets_no_first_alert(participant, clock, telegram_api) -> None:
    raised = raise_for(participant)
    with session_scope() as session:
        session.execute(
            update(Escalation)
            .where(Escalation.id == raised.id)
            .values(status=EscalationStatus.RESOLVED)
        )
    await worker(clock).run_once()

    assert deliveries(raised.id) == []


def test_the_example_study_alerts_on_call_staff() -> None:
    alerts = load_study_config(EXAMPLE_STUDY).escalation.alerts
    assert alerts.on_call and alerts.backup and alerts.everyone
    assert alerts.channels.emergency == ["telegram", "sms", "console"]
    assert alerts_section()["on_call"] == ["joy"]


async def test_the_worker_runs_until_stopped(participant, clock, telegram_api) -> None:
    raise_for(participant)
    stop = asyncio.Event()
    running = asyncio.create_task(worker(clock).run_forever(0.01, stop))
    for _ in range(500):
        if telegram_texts(telegram_api, JOY.chat_id):
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(running, timeout=10)

    assert len(telegram_texts(telegram_api, JOY.chat_id)) == 1


def test_trialbot_run_supervises_the_alert_worker() -> None:
    command = process_commands(get_settings())["alerts"]
    assert command.endswith("-m bot.alerts.worker")
