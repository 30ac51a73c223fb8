"""No acknowledged message is lost (bot/channels/inbound_queue.py), on SQLite and PostgreSQL.

The SMS and Telegram channels run on real local Sanic servers, as Rasa registers them,
against the stand-in Twilio and Telegram APIs; the assistant is a stand-in that records
each message and can be held mid-turn. A "crash" cancels the server's handling in flight,
as SIGKILL would stop it: nothing after that point runs, and the message stays claimed
in the message log. A second server on the same database stands for the restarted one
(or another Rasa server).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from rasa.core.channels.channel import UserMessage
from sqlalchemy import select, update

from bot.channels.telegram import SECRET_HEADER, TelegramInput
from bot.channels.twilio_sms import TwilioSmsInput
from bot.db.models import Channel, Direction, Escalation, EscalationType, MessageLog
from bot.db.repository import get_participant_by_study_id
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.participants.enrollment import enroll
from bot.safety.emergency import record_emergency
from bot.study.config import current_study
from tests.channels.test_telegram import (  # noqa: F401 - fixtures used by name
    CHAT,
    SECRET,
    Served,
    linked_participant,
    sent_to,
    serve_channel,
    telegram_api,
    telegram_env,
)
from tests.channels.test_twilio_sms import (  # noqa: F401 - fixtures used by name
    EMPTY_TWIML,
    PHONE,
    WEBHOOK,
    Assistant,
    SmsServer,
    inbound,
    participant,
    serve,
    sms_settings,
    twilio_api,
    wording,
)
from tests.stand_ins.telegram_api import TelegramApiStandIn, message_update
from tests.stand_ins.twilio_api import TwilioApiStandIn

RED_FLAG = "i have crushing chest pain"


# --- helpers ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def sms_server(
    monkeypatch: pytest.MonkeyPatch, assistant: Assistant | None = None
) -> AsyncIterator[SmsServer]:
    """One Rasa server with the SMS channel, for as long as the block runs."""
    async for server in serve(TwilioSmsInput(), assistant or Assistant(), monkeypatch):
        yield server


async def crash(channel: TwilioSmsInput | TelegramInput) -> None:
    """Stop the handling in flight the way SIGKILL does: nothing after this point runs."""
    queue = getattr(channel, "queue", None)
    tasks = set(channel._tasks) | (queue.tasks if queue is not None else set())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def inbound_rows(channel: Channel = Channel.SMS) -> list[MessageLog]:
    with session_scope() as session:
        return list(
            session.execute(
                select(MessageLog)
                .where(MessageLog.direction == Direction.INBOUND, MessageLog.channel == channel)
                .order_by(MessageLog.id)
            ).scalars()
        )


def stopped_ago(minutes: float, channel: Channel = Channel.SMS) -> None:
    """The server stopped `minutes` ago, just after the waiting messages arrived: their
    claims have run out since."""
    with session_scope() as session:
        session.execute(
            update(MessageLog)
            .where(MessageLog.channel == channel, MessageLog.handled_at.is_(None))
            .values(
                created_at=utcnow() - timedelta(minutes=minutes),
                claimed_until=utcnow() - timedelta(seconds=1),
            )
        )


def emergencies() -> list[Escalation]:
    with session_scope() as session:
        return list(
            session.execute(
                select(Escalation).where(Escalation.type == EscalationType.EMERGENCY)
            ).scalars()
        )


async def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait until `check()` holds (the recovery sweep runs in the background)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


def all_handled(channel: Channel = Channel.SMS) -> Callable[[], bool]:
    return lambda: all(row.handled_at is not None for row in inbound_rows(channel))


def sms_bodies(api: TwilioApiStandIn) -> list[str]:
    return [form["Body"] for form in api.messages]


# --- SMS ----------------------------------------------------------------------------------


async def test_a_red_flag_acknowledged_before_a_crash_gets_its_emergency_answer_after_restart(
    participant: Any,  # noqa: F811 - the fixture imported above
    twilio_api: TwilioApiStandIn,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = inbound(RED_FLAG)
    held = Assistant(hold=asyncio.Event())
    async with sms_server(monkeypatch, held) as before:
        answer = await before.post(WEBHOOK, params, wait=False)
        assert (answer.status_code, answer.text) == (200, EMPTY_TWIML)
        await eventually(lambda: held.texts == [RED_FLAG])
        await crash(before.channel)
    assert twilio_api.messages == []
    stopped_ago(7)

    restarted = Assistant(replies=[])  # says nothing: the turn guard gives the answer
    async with sms_server(monkeypatch, restarted) as after:
        await eventually(all_handled())  # the start-up sweep
        await after.channel.wait_idle()
        retried = await after.post(WEBHOOK, params)  # Twilio's retry of a handled message

    assert retried.text == EMPTY_TWIML
    assert restarted.texts == [RED_FLAG]
    assert sms_bodies(twilio_api) == wording("emergency")
    [escalation] = emergencies()
    assert escalation.trigger_message_id == params["MessageSid"]
    assert escalation.reason.startswith("handled 7 min after it arrived")
    assert "chest pain" in escalation.reason
    [row] = inbound_rows()
    assert (row.attempts, row.claimed_by) == (2, None)


async def test_twilios_retry_of_a_message_never_handled_is_handled_once(
    participant: Any,  # noqa: F811 - the fixture imported above
    twilio_api: TwilioApiStandIn,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = inbound("what is a placebo")
    held = Assistant(hold=asyncio.Event())
    async with sms_server(monkeypatch, held) as before:
        await before.post(WEBHOOK, params, wait=False)
        await eventually(lambda: held.texts == ["what is a placebo"])
        await crash(before.channel)

    other = Assistant()
    async with sms_server(monkeypatch, other) as after:
        # The first server's claim still holds: it may still be handling it.
        early = await after.post(WEBHOOK, params)
        assert (early.status_code, other.texts) == (200, [])
        with session_scope() as session:  # its lease runs out
            session.execute(update(MessageLog).values(claimed_until=utcnow()))
        retried = await after.post(WEBHOOK, params)
        again = await after.post(WEBHOOK, params)

    assert (retried.text, again.text) == (EMPTY_TWIML, EMPTY_TWIML)
    assert other.texts == ["what is a placebo"]
    assert len(twilio_api.messages) == 1
    [row] = inbound_rows()
    assert row.handled_at is not None


async def test_a_later_message_waits_for_an_earlier_one_handled_by_another_server(
    participant: Any,  # noqa: F811 - the fixture imported above
    twilio_api: TwilioApiStandIn,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = Assistant(hold=asyncio.Event(), replies=[("first answer", [])])
    second = Assistant(replies=[("second answer", [])])
    async with sms_server(monkeypatch, first) as one, sms_server(monkeypatch, second) as two:
        await one.post(WEBHOOK, inbound("hello"), wait=False)
        await eventually(lambda: first.texts == ["hello"])
        await two.post(WEBHOOK, inbound("check in"))
        assert second.texts == []  # not before "hello" is done

        assert first.hold is not None
        first.hold.set()
        await one.channel.wait_idle()

    assert (first.texts, second.texts) == (["hello", "check in"], [])
    assert sms_bodies(twilio_api) == ["first answer", "first answer"]
    assert all(row.handled_at is not None for row in inbound_rows())


@dataclass
class Journal:
    """What every server's stand-in assistant handled, in the order turns started."""

    turns: list[tuple[str, str]] = field(default_factory=list)
    busy: set[str] = field(default_factory=set)
    overlaps: int = 0


class Recording(Assistant):
    """An assistant that writes each turn to a journal shared by the servers."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(replies=[("ok", [])])
        self.journal = journal

    async def handle_message(self, message: UserMessage) -> None:
        sender = str(message.sender_id)
        if sender in self.journal.busy:
            self.journal.overlaps += 1
        self.journal.busy.add(sender)
        self.journal.turns.append((sender, str(message.text)))
        await asyncio.sleep(0.01)  # let the other server run meanwhile
        try:
            await super().handle_message(message)
        finally:
            self.journal.busy.discard(sender)


async def test_two_servers_recovering_one_backlog_handle_each_message_once_in_order(
    participant: Any,  # noqa: F811 - the fixture imported above
    twilio_api: TwilioApiStandIn,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    phones = [PHONE, "+15555550124", "+15555550125"]
    with session_scope() as session:
        for number, phone in enumerate(phones[1:], start=2):
            enroll(
                session=session,
                study=current_study(),
                study_id=f"P-00{number}",
                channel=Channel.SMS,
                timezone_name="UTC",
                phone=phone,
            )
    sent = {phone: [f"message {index}" for index in range(4)] for phone in phones}
    held = Assistant(hold=asyncio.Event())
    async with sms_server(monkeypatch, held) as crashed:
        for index in range(4):
            for phone in phones:
                await crashed.post(WEBHOOK, inbound(sent[phone][index], sender=phone), wait=False)
        await eventually(lambda: len(held.texts) == len(phones))  # each one's first, held
        await crash(crashed.channel)
    stopped_ago(5)

    journal = Journal()
    one, two = Recording(journal), Recording(journal)
    async with sms_server(monkeypatch, one) as a, sms_server(monkeypatch, two) as b:
        await asyncio.gather(a.channel.queue.sweep(), b.channel.queue.sweep())
        await eventually(all_handled())
        await a.channel.wait_idle()
        await b.channel.wait_idle()

    assert len(journal.turns) == 12  # each message once, across both servers
    assert journal.overlaps == 0
    by_sender: dict[str, list[str]] = {}
    for sender, text in journal.turns:
        by_sender.setdefault(sender, []).append(text)
    assert sorted(by_sender.values()) == sorted(sent.values())  # in order for each of them
    assert len(twilio_api.messages) == 12


# --- Telegram -----------------------------------------------------------------------------


class HeldAgent:
    """Stands in for Rasa's agent: stores the message's emergency escalation, as
    `action_emergency` does, then never finishes the turn."""

    def __init__(self) -> None:
        self.messages: list[UserMessage] = []
        self.hold = asyncio.Event()

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)
        with session_scope() as session:
            who = get_participant_by_study_id(session=session, study_id="P-101")
            assert who is not None
            record_emergency(
                session=session,
                participant_id=who.id,
                categories=["chest_pain"],
                trigger_message_id=message.message_id,
            )
        await self.hold.wait()


class QuietAgent:
    """Stands in for Rasa's agent on a paused conversation: says nothing."""

    def __init__(self) -> None:
        self.messages: list[UserMessage] = []

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)


@contextlib.asynccontextmanager
async def telegram_server(monkeypatch: pytest.MonkeyPatch, agent: Any) -> AsyncIterator[Served]:
    async for served in serve_channel(monkeypatch):
        served.app.ctx.agent = agent
        yield served


async def test_a_telegram_update_redelivered_after_a_crash_is_handled_with_one_escalation(
    database_url: str,
    telegram_env: None,  # noqa: F811 - the fixture imported above
    telegram_api: TelegramApiStandIn,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    linked_participant()
    update = message_update(secrets.randbelow(10**6) + 1000, CHAT, RED_FLAG)
    first = await crashed_mid_turn(monkeypatch, update)
    assert sent_to(telegram_api, CHAT) == []
    assert len(emergencies()) == 1  # stored by the first, interrupted turn
    stopped_ago(0, Channel.TELEGRAM)  # too young for a sweep: the re-delivery takes it

    second = QuietAgent()
    async with telegram_server(monkeypatch, second) as after:
        # Telegram delivers the update again (it never saw our answer, say).
        redelivered = await after.post(update)
        again = await after.post(update)

    assert (redelivered.status_code, again.status_code) == (200, 200)
    assert [message.text for message in second.messages] == [RED_FLAG]
    assert second.messages[0].message_id == first.messages[0].message_id
    assert sent_to(telegram_api, CHAT) == wording("emergency")
    assert len(emergencies()) == 1  # the same message: still one emergency escalation
    [row] = inbound_rows(Channel.TELEGRAM)
    assert row.handled_at is not None


async def test_a_telegram_update_left_unhandled_is_recovered_by_the_start_up_sweep(
    database_url: str,
    telegram_env: None,  # noqa: F811 - the fixture imported above
    telegram_api: TelegramApiStandIn,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    linked_participant()
    await crashed_mid_turn(monkeypatch, message_update(4242, CHAT, RED_FLAG))
    stopped_ago(12, Channel.TELEGRAM)

    second = QuietAgent()
    async with telegram_server(monkeypatch, second) as after:
        await eventually(all_handled(Channel.TELEGRAM))
        await after.channel.wait_idle()

    assert [message.text for message in second.messages] == [RED_FLAG]
    assert sent_to(telegram_api, CHAT) == wording("emergency")
    [escalation] = emergencies()
    assert escalation.trigger_message_id == "telegram-update:4242"


async def crashed_mid_turn(monkeypatch: pytest.MonkeyPatch, update: dict[str, Any]) -> HeldAgent:
    """A server takes the update (answering 200) and stops during its turn."""
    agent = HeldAgent()
    async with telegram_server(monkeypatch, agent) as served:
        async with httpx.AsyncClient() as client:
            reply = await client.post(served.url, json=update, headers={SECRET_HEADER: SECRET})
        assert reply.status_code == 200
        await eventually(lambda: len(agent.messages) == 1)
        await crash(served.channel)
    return agent
