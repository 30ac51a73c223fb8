"""Outreach claims are leases (bot/outreach/worker.py), on SQLite and PostgreSQL: several
workers on one database send each scheduled message once, and a message a stopped worker
left 'sending' is reconciled from the message log once its lease has run out — marked sent
when it went out, put back to pending when it certainly did not, failed otherwise.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from bot.channels.telegram import TelegramOutput
from bot.clients.rasa_http import RasaHttpApi
from bot.db.models import OutreachStatus, ScheduledMessage
from bot.outreach import worker as outreach_worker
from bot.outreach.worker import RECONCILED, OutreachWorker
from bot.study.wording import messages
from tests.outreach.conftest import FakeClock, add_participant, local, make_study, scheduled
from tests.outreach.test_worker import (  # noqa: F401 - the fixture used by name
    PROMPTS_ONLY,
    make_worker,
    sent_texts,
    telegram_participant,
)
from tests.stand_ins.rasa_api import RasaApiStandIn
from tests.stand_ins.telegram_api import TelegramApiStandIn

pytestmark = pytest.mark.usefixtures("database_url")

SENT = OutreachStatus.SENT
NUDGE = 'Just a reminder: your check-in is still waiting. Reply "check in" when you are ready.'
# Dose reminders every morning; the weekly check-in is on Fridays, far from these tests.
DOSES = make_study(
    visits=[],
    dose_reminders={"enabled": True, "times": ["08:30"]},
    checkins={"frequency": "weekly", "weekday": "friday"},
)


class Killed(BaseException):
    """The worker process dies here (like SIGKILL: no `except Exception` catches it)."""


def _killed_now(*args: Any, **kwargs: Any) -> Any:
    raise Killed


async def _killed(*args: Any, **kwargs: Any) -> Any:
    raise Killed


class SlowRasa(RasaHttpApi):
    """Rasa takes a moment over each prompt (so two workers' sends overlap)."""

    async def trigger_intent(self, **kwargs: Any) -> None:
        await asyncio.sleep(0.02)
        await super().trigger_intent(**kwargs)


class HeldRasa(RasaHttpApi):
    """Rasa holds the prompt until the test lets it go."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def trigger_intent(self, **kwargs: Any) -> None:
        self.entered.set()
        await self.release.wait()
        await super().trigger_intent(**kwargs)


class SentThenKilled(RasaHttpApi):
    """Rasa sends the prompt on Telegram (as its output channel does), then the worker
    process dies before it records that."""

    async def trigger_intent(self, **kwargs: Any) -> None:
        await super().trigger_intent(**kwargs)
        output = TelegramOutput()
        for text in messages(PROMPTS_ONLY, "checkin_prompt"):
            await output.send_text_message(kwargs["sender_id"], text)
        raise Killed


def sent_so_far() -> list[OutreachStatus]:
    """The statuses of every message due by now (those planned for later are pending)."""
    return [row.status for row in scheduled() if row.status is not OutreachStatus.PENDING]


def todays_reminder() -> ScheduledMessage:
    [reminder] = scheduled(kind="dose_reminder", due_at=local(2026, 3, 3, 8, 30))
    return reminder


def todays_prompt() -> ScheduledMessage:
    [prompt] = scheduled(kind="checkin_prompt", due_at=local(2026, 3, 2, 18))
    return prompt


def many_on_telegram(clock: FakeClock, count: int) -> list[str]:
    """Participants on Telegram, each with their own chat; their conversation IDs."""
    return [
        add_participant(
            study=PROMPTS_ONLY,
            study_id=f"P-{index:02d}",
            address=str(5000 + index),
            enrolled_at=clock(),
        ).sender_id
        for index in range(count)
    ]


async def test_two_workers_ticking_at_once_send_each_due_message_once(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    make_worker,  # noqa: F811 - the fixture imported above
) -> None:
    senders = many_on_telegram(clock, 8)

    for moment in (local(2026, 3, 2, 12), local(2026, 3, 2, 18), local(2026, 3, 2, 20)):
        clock.set(moment)
        # Two workers (started afresh, as after a deploy) tick at the same moment.
        one = make_worker(rasa_api=SlowRasa(rasa.base_url, rasa.token))
        two = make_worker(rasa_api=SlowRasa(rasa.base_url, rasa.token))
        await asyncio.gather(one.tick(), two.tick())

    assert sorted(call.conversation_id for call in rasa.triggers()) == sorted(senders)
    assert sorted(call.params["chat_id"] for call in telegram.calls("sendMessage")) == sorted(
        str(5000 + index) for index in range(8)
    )
    assert set(sent_texts(telegram)) == {NUDGE}
    assert sent_so_far() == [SENT] * 16  # 8 prompts and their 8 nudges, nothing else


async def test_a_worker_starting_while_another_is_mid_send_leaves_its_claim_alone(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    make_worker,  # noqa: F811 - the fixture imported above
) -> None:
    telegram_participant(clock)
    held = HeldRasa(rasa.base_url, rasa.token)
    busy = make_worker(rasa_api=held)
    await busy.tick()
    clock.set(local(2026, 3, 2, 18))
    sending = asyncio.create_task(busy.tick())
    await asyncio.wait_for(held.entered.wait(), timeout=10)

    clock.advance(minutes=1)
    other = make_worker()
    await other.tick()  # a second worker starts while the first is mid-send
    assert todays_prompt().status is OutreachStatus.SENDING

    held.release.set()
    await asyncio.wait_for(sending, timeout=10)
    clock.advance(minutes=10)
    await other.tick()

    assert len(rasa.triggers()) == 1
    prompt = todays_prompt()
    assert (prompt.status, prompt.note) == (SENT, None)
    assert len(scheduled(kind="checkin_nudge")) == 1


async def test_a_prompt_that_went_out_before_its_worker_died_is_marked_sent_and_nudged(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    make_worker,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    telegram_participant(clock)
    crashing = make_worker(rasa_api=SentThenKilled(rasa.base_url, rasa.token))
    await dies_mid_send(crashing, clock, local(2026, 3, 2, 18), monkeypatch)

    restarted = make_worker()
    clock.advance(minutes=1)
    await restarted.tick()  # its lease still holds: left alone
    assert todays_prompt().status is OutreachStatus.SENDING
    clock.advance(minutes=10)
    await restarted.tick()

    prompt = todays_prompt()
    assert (prompt.status, prompt.note) == (SENT, RECONCILED)
    assert prompt.sent_at == local(2026, 3, 2, 18)
    [nudge] = scheduled(kind="checkin_nudge")
    assert nudge.due_at == local(2026, 3, 2, 20)
    clock.set(local(2026, 3, 2, 20))
    await restarted.tick()

    assert len(rasa.triggers()) == 1
    assert sent_texts(telegram) == [*messages(PROMPTS_ONLY, "checkin_prompt"), NUDGE]


async def test_a_prompt_interrupted_before_it_was_handed_to_rasa_is_sent_once_after_all(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    make_worker,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    telegram_participant(clock)
    dying_at = (OutreachWorker, "_hand_over", _killed)
    await dies_mid_send(make_worker(), clock, local(2026, 3, 2, 18), monkeypatch, dying_at)
    assert rasa.triggers() == []

    clock.advance(minutes=6)
    await make_worker().tick()  # back to pending, then sent in the same tick

    assert todays_prompt().status is SENT
    assert len(rasa.triggers()) == 1


@pytest.mark.parametrize(
    ("dying_at", "note"),
    [
        ((outreach_worker, "finish", _killed_now), RECONCILED),  # as it recorded the result
        ((outreach_worker, "deliver", _killed), None),  # handed over, before logging it
    ],
    ids=["text sent", "text not logged"],
)
async def test_a_reminder_interrupted_mid_send_is_sent_exactly_once(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    make_worker,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
    dying_at: tuple[Any, str, Any],
    note: str | None,
) -> None:
    telegram_participant(clock, DOSES)
    await dies_mid_send(make_worker(DOSES), clock, local(2026, 3, 3, 8, 30), monkeypatch, dying_at)
    left = todays_reminder()
    assert left.status is OutreachStatus.SENDING
    assert left.detail is not None and left.detail["handover"]["texts"]

    clock.advance(minutes=6)
    await make_worker(DOSES).tick()

    reminder = todays_reminder()
    assert (reminder.status, reminder.note) == (SENT, note)
    assert sent_texts(telegram) == messages(DOSES, "dose_reminder")


async def dies_mid_send(
    worker: OutreachWorker,
    clock: FakeClock,
    moment: datetime,
    monkeypatch: pytest.MonkeyPatch,
    dying_at: tuple[Any, str, Any] | None = None,
) -> None:
    """The worker plans, then dies in its tick at `moment` (where `dying_at` says)."""
    await worker.tick()
    clock.set(moment)
    with monkeypatch.context() as dying:
        if dying_at is not None:
            dying.setattr(*dying_at)
        with pytest.raises(Killed):
            await worker.tick()
