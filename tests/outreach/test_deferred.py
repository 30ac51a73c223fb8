"""A scheduled check-in's opening sent by the outreach worker itself, Rasa's turn run later
(bot.outreach.deferred): the real database (with Rasa's `events` table, as the Rasa server
leaves it), a fake clock, and stand-ins for Rasa, Twilio and Telegram.

The turn run by the Rasa server before a participant's answer, and Rasa's own replies
compared with the opening, are in tests/e2e/test_sms_checkin.py (the trained assistant).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select

from bot.clients.rasa_http import RasaHttpApi
from bot.db.models import (
    Channel,
    Checkin,
    CheckinStatus,
    DeferredTurn,
    OutreachStatus,
    StaffRole,
    StaffUser,
    tracker_events,
)
from bot.db.session import get_engine, session_scope
from bot.handoff.repository import start_handoff
from bot.outreach import deferred
from bot.outreach import worker as worker_module
from bot.outreach.worker import OutreachWorker
from tests.outreach.conftest import (
    FakeClock,
    add_participant,
    local,
    scheduled,
    update_participant,
    withdraw,
)
from tests.outreach.test_worker import (  # noqa: F401 - make_worker: a fixture, by name
    PROMPTS_ONLY,
    closed_port_url,
    make_worker,
    sent_texts,
    sms_participant,
    telegram_participant,
)
from tests.stand_ins.rasa_api import RasaApiStandIn
from tests.stand_ins.telegram_api import TelegramApiStandIn
from tests.stand_ins.twilio_api import TwilioApiStandIn

SENT, PENDING = OutreachStatus.SENT, OutreachStatus.PENDING


@pytest.fixture(autouse=True)
def rasa_events_table(database_url: str) -> Iterator[None]:
    """Rasa's `events` table, as a Rasa server on this database creates it (dropped after,
    so the other worker tests keep a database Rasa never ran on)."""
    engine = get_engine(database_url)
    tracker_events.create(engine, checkfirst=True)
    yield
    tracker_events.drop(engine, checkfirst=True)
    deferred.forget_rasa_stores()  # Rasa never drops it; this test does


@pytest.fixture
def workers(make_worker: Any) -> Any:  # noqa: F811 - the fixture imported above
    """Outreach workers that leave the deferred turns to the test (catch-up off)."""

    def build(*args: Any, catch_up_seconds: float = 0.0, **kwargs: Any) -> OutreachWorker:
        return make_worker(*args, catch_up_seconds=catch_up_seconds, **kwargs)

    return build


def turns() -> list[DeferredTurn]:
    with session_scope() as session:
        return list(session.execute(select(DeferredTurn).order_by(DeferredTurn.id)).scalars())


def rasa_event(sender_id: str, type_name: str, name: str | None = None) -> None:
    """An event in Rasa's tracker store, as Rasa's SQL store writes it."""
    with session_scope() as session:
        session.execute(
            insert(tracker_events).values(
                sender_id=sender_id,
                type_name=type_name,
                timestamp=0.0,
                action_name=name,
                data=json.dumps({"event": type_name, "name": name}),
            )
        )


def opening(language: str = "en") -> list[dict[str, Any]]:
    return deferred.scheduled_opening(PROMPTS_ONLY, language)


async def test_an_idle_conversations_opening_is_sent_by_the_worker_and_rasa_runs_it_later(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, workers: Any
) -> None:
    who = telegram_participant(clock)
    worker = workers()
    await worker.tick()
    clock.set(local(2026, 3, 2, 18))

    report = await worker.tick()

    # Sent at once by the worker, through delivery, with the answer buttons; Rasa not asked.
    assert report.sent == 1
    assert rasa.requests == []
    expected = opening()
    assert sent_texts(telegram) == [message["text"] for message in expected]
    keyboard = telegram.calls("sendMessage")[-1].params["reply_markup"]
    assert "1 Very bad" in json.dumps(keyboard)
    [prompt] = scheduled(kind="checkin_prompt", status=SENT)
    assert prompt.sent_at == clock()
    assert scheduled(kind="checkin_nudge")  # planned as for any sent prompt
    [turn] = turns()
    assert (turn.status, turn.sender_id, turn.intent) == (
        deferred.PENDING,
        who.sender_id,
        "start_checkin",
    )
    assert turn.entities == {"trigger": "schedule", "prompt": str(prompt.id), "language": "en"}
    assert turn.said == expected

    # Then Rasa runs the same trigger with no output channel: nothing more is sent.
    rasa.says(lambda sender, entities: opening(entities["language"]))
    assert await worker.catch_up(seconds=10) == 1
    [call] = rasa.requests
    assert (call.conversation_id, call.intent, call.output_channel) == (
        who.sender_id,
        "start_checkin",
        None,
    )
    assert call.entities == turn.entities
    assert [row.status for row in turns()] == [deferred.DONE]
    assert len(sent_texts(telegram)) == len(expected)
    assert await worker.catch_up(seconds=10) == 0  # once


async def test_an_sms_opening_goes_as_two_texts_with_numbered_options(
    clock: FakeClock, rasa: RasaApiStandIn, twilio: TwilioApiStandIn, workers: Any
) -> None:
    sms_participant(clock)
    worker = workers()
    await worker.tick()
    clock.set(local(2026, 3, 2, 18, 1))
    await worker.tick()

    prompt, question = [message["Body"] for message in twilio.messages]
    assert prompt == opening()[0]["text"]
    assert question.startswith(opening()[1]["text"])
    assert "Reply 1 for Very bad" in question
    assert rasa.requests == []


async def test_rasas_turn_saying_something_else_is_kept_and_logged(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    workers: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    telegram_participant(clock)
    worker = workers()
    await worker.tick()
    clock.set(local(2026, 3, 2, 18))
    await worker.tick()
    rasa.says(lambda sender, entities: [{"text": "Welcome back! Let's pick up where we stopped."}])
    caplog.set_level(logging.WARNING, logger="bot.outreach.deferred")

    assert await worker.catch_up(seconds=10) == 1

    [turn] = turns()
    assert turn.status == deferred.DIFFERS
    assert "Welcome back" in (turn.note or "")
    assert "differ from the opening sent" in caplog.text


def _form_active(who: Any) -> None:
    rasa_event(who.sender_id, "active_loop", "symptom_form")


def _paused(who: Any) -> None:
    rasa_event(who.sender_id, "pause")


def _unfinished_checkin(who: Any) -> None:
    with session_scope() as session:
        session.add(
            Checkin(
                participant_id=who.id,
                status=CheckinStatus.PAUSED,
                started_at=local(2026, 3, 2, 15),
            )
        )


def _handoff(who: Any) -> None:
    """A nurse took the conversation over an hour before the prompt is due."""
    with session_scope() as session:
        nurse = StaffUser(
            username=f"nurse-{who.id}",
            display_name="Nurse",
            role=StaffRole.STAFF,
            password_hash="x",
        )
        session.add(nurse)
        session.flush()
        start_handoff(
            session=session,
            participant_id=who.id,
            staff_user_id=nurse.id,
            escalation_id=None,
            via="console",
            now=local(2026, 3, 2, 17),
        )


@pytest.mark.parametrize("channel", ["telegram", "sms"])
@pytest.mark.parametrize(
    "busy", [_form_active, _paused, _unfinished_checkin, _handoff], ids=lambda f: f.__name__
)
async def test_a_conversation_that_is_not_idle_gets_the_prompt_from_rasa(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    workers: Any,
    busy: Any,
    channel: str,
    request: pytest.FixtureRequest,
) -> None:
    # Telegram openings go one by one, SMS openings in groups: both ask the same questions.
    request.getfixturevalue("telegram" if channel == "telegram" else "twilio")
    who = telegram_participant(clock) if channel == "telegram" else sms_participant(clock)
    worker = workers()
    await worker.tick()
    busy(who)
    clock.set(local(2026, 3, 2, 18))

    await worker.tick()

    [call] = rasa.triggers()
    output_channel = "telegram" if channel == "telegram" else "twilio"
    assert (call.conversation_id, call.output_channel) == (who.sender_id, output_channel)
    assert turns() == []
    assert scheduled(kind="checkin_prompt", status=SENT)


async def test_a_form_ended_or_a_conversation_resumed_is_idle_again(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, workers: Any
) -> None:
    who = telegram_participant(clock)
    worker = workers()
    await worker.tick()
    rasa_event(who.sender_id, "active_loop", "checkin_form")
    rasa_event(who.sender_id, "pause")
    rasa_event(who.sender_id, "active_loop", None)
    rasa_event(who.sender_id, "resume")
    clock.set(local(2026, 3, 2, 18))

    await worker.tick()

    assert rasa.requests == []
    assert [turn.status for turn in turns()] == [deferred.PENDING]


async def test_a_turn_still_waiting_sends_the_next_days_prompt_through_rasa(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, workers: Any
) -> None:
    telegram_participant(clock)
    worker = workers()
    await worker.tick()
    clock.set(local(2026, 3, 2, 18))
    await worker.tick()  # day 1: sent by the worker, its turn left waiting
    clock.set(local(2026, 3, 3, 18))

    await worker.tick()  # day 2

    [call] = rasa.triggers()
    assert call.output_channel == "telegram"
    assert [turn.status for turn in turns()] == [deferred.PENDING]


async def test_rasa_unreachable_leaves_the_turn_waiting(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, workers: Any
) -> None:
    telegram_participant(clock)
    await workers().tick()
    clock.set(local(2026, 3, 2, 18))
    await workers().tick()
    offline = workers(rasa_api=RasaHttpApi(closed_port_url(), rasa.token))

    assert await offline.catch_up(seconds=10) == 0

    [turn] = turns()
    assert (turn.status, turn.claimed_by) == (deferred.PENDING, None)
    assert "not reachable" in (turn.note or "")


async def test_a_rasa_error_fails_the_turn_and_it_is_not_run_again(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, workers: Any
) -> None:
    telegram_participant(clock)
    worker = workers()
    await worker.tick()
    clock.set(local(2026, 3, 2, 18))
    await worker.tick()
    rasa.fail_next()

    assert await worker.catch_up(seconds=10) == 0
    assert await worker.catch_up(seconds=10) == 0

    assert [turn.status for turn in turns()] == [deferred.FAILED]
    assert len(rasa.requests) == 1


async def crash_mid_opening(
    clock: FakeClock, workers: Any, monkeypatch: pytest.MonkeyPatch, deliver: Any
) -> None:
    """A worker dies in `deliver` while sending an opening; another takes over after the
    lease (the real delivery back in place)."""
    real = worker_module.deliver_bot_message
    crashing = workers()
    await crashing.tick()
    clock.set(local(2026, 3, 2, 18))
    monkeypatch.setattr(worker_module, "deliver_bot_message", deliver(real))
    with pytest.raises(asyncio.CancelledError):
        await crashing.tick()
    monkeypatch.setattr(worker_module, "deliver_bot_message", real)
    clock.advance(minutes=10)  # past the lease
    await workers().tick()


async def test_a_worker_that_stopped_before_sending_the_opening_sends_it_once_after(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    workers: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    telegram_participant(clock)
    held: list[list[str]] = []

    def killed(real: Any) -> Any:
        async def deliver(*args: Any, **kwargs: Any) -> Any:
            held.append([turn.status for turn in turns()])
            raise asyncio.CancelledError

        return deliver

    await crash_mid_opening(clock, workers, monkeypatch, killed)

    assert held == [[deferred.HELD]]  # noted before the send, never armed
    assert sent_texts(telegram) == [message["text"] for message in opening()]
    assert scheduled(kind="checkin_prompt", status=SENT)
    assert [turn.status for turn in turns()] == [deferred.PENDING]


async def test_a_worker_that_stopped_after_sending_the_opening_does_not_send_it_again(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    workers: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    telegram_participant(clock)

    def killed_after_the_last(real: Any) -> Any:
        calls: list[int] = []

        async def deliver(*args: Any, **kwargs: Any) -> Any:
            outcomes = await real(*args, **kwargs)
            calls.append(1)
            if len(calls) == len(opening()):
                raise asyncio.CancelledError
            return outcomes

        return deliver

    await crash_mid_opening(clock, workers, monkeypatch, killed_after_the_last)

    assert sent_texts(telegram) == [message["text"] for message in opening()]  # once
    assert scheduled(kind="checkin_prompt", status=SENT)
    assert [turn.status for turn in turns()] == [deferred.PENDING]  # armed by the reconcile
    assert rasa.requests == []


def _failing_send(after: int) -> Any:
    """`try_send` for a worker that stops after `after` sends (their results unrecorded)."""

    def wrap(real: Any) -> Any:
        calls: list[int] = []

        async def send(*args: Any, **kwargs: Any) -> Any:
            if len(calls) == after:
                raise asyncio.CancelledError
            calls.append(1)
            tried = await real(*args, **kwargs)
            if len(calls) == after == len(opening()):  # all sent, none recorded
                raise asyncio.CancelledError
            return tried

        return send

    return wrap


@pytest.mark.parametrize("sent_before_stopping", [0, 1, 2], ids=["none", "one", "both"])
async def test_an_sms_group_stopped_mid_send_is_looked_up_at_twilio_and_sent_once(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    twilio: TwilioApiStandIn,
    workers: Any,
    monkeypatch: pytest.MonkeyPatch,
    sent_before_stopping: int,
) -> None:
    """SMS openings are logged as a group before any is sent, and their results recorded
    after: a worker stopped in between leaves parts whose fate is unknown. The next worker
    hands them to the message log's retry, which asks Twilio before sending again, one
    worker per message."""
    sms_participant(clock)
    crashing = workers()
    await crashing.tick()
    clock.set(local(2026, 3, 2, 18))
    real = worker_module.try_send
    monkeypatch.setattr(worker_module, "try_send", _failing_send(sent_before_stopping)(real))
    with pytest.raises(asyncio.CancelledError):
        await crashing.tick()
    assert len(twilio.messages) == sent_before_stopping

    monkeypatch.setattr(worker_module, "try_send", real)
    clock.advance(minutes=10)  # past the lease
    # Two workers at once (as production runs them): one reconciles, both retry failed
    # messages; each retry is claimed, so nothing goes twice.
    await asyncio.gather(workers().tick(), workers().tick())

    bodies = [message["Body"] for message in twilio.messages]
    assert len(bodies) == 2  # each part once: found at Twilio, or sent now
    assert bodies[0] == opening()[0]["text"]
    assert bodies[1].startswith(opening()[1]["text"])
    [prompt] = scheduled(kind="checkin_prompt", status=SENT)
    assert prompt.note == worker_module.LOOKED_UP
    assert [turn.status for turn in turns()] == [deferred.PENDING]


async def test_the_worker_runs_waiting_turns_in_its_tick_within_its_time_budget(
    clock: FakeClock, rasa: RasaApiStandIn, telegram: TelegramApiStandIn, workers: Any
) -> None:
    telegram_participant(clock)
    rasa.says(lambda sender, entities: opening(entities["language"]))
    worker = workers(catch_up_seconds=20.0)
    await worker.tick()
    clock.set(local(2026, 3, 2, 18))

    report = await worker.tick()

    assert (report.sent, report.caught_up) == (1, 1)
    assert [turn.status for turn in turns()] == [deferred.DONE]


async def test_sms_openings_in_a_group_skip_opted_out_and_withdrawn_participants(
    clock: FakeClock, rasa: RasaApiStandIn, twilio: TwilioApiStandIn, workers: Any
) -> None:
    """SMS openings are checked as a group (bot.outreach.grouped): a STOP and a withdrawal
    are kept there as one by one; the others in the group get their opening."""
    who = sms_participant(clock)
    stopped, gone = (
        add_participant(
            study=PROMPTS_ONLY,
            study_id=study_id,
            channel=Channel.SMS,
            address=phone,
            enrolled_at=clock(),
        )
        for study_id, phone in (("P-STOP", "+15555550198"), ("P-GONE", "+15555550199"))
    )
    worker = workers()
    await worker.tick()  # planned for all three
    update_participant(stopped.id, opted_out_at=clock())
    withdraw(gone.id)
    clock.set(local(2026, 3, 2, 18))

    await worker.tick()

    assert rasa.requests == []
    assert {message["To"] for message in twilio.messages} == {who.address}
    notes = {row.participant_id: row.note for row in scheduled(status=OutreachStatus.SKIPPED)}
    assert notes == {stopped.id: "opted out", gone.id: "participant withdrawn"}
    assert [turn.participant_id for turn in turns()] == [who.id]
