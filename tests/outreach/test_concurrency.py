"""Due messages are sent concurrently (bot/outreach/worker.py), on SQLite and PostgreSQL: at
most OUTREACH_CONCURRENCY at once per worker, each participant's one after another and in
order, and with several workers each due message exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.clients.base import ChannelClient
from bot.clients.rasa_http import RasaHttpApi
from bot.core.settings import get_settings
from bot.db.models import Channel, OutreachStatus
from bot.messaging import delivery
from bot.outreach import worker as outreach_worker
from bot.outreach.channels import channel_clients, close_clients
from bot.outreach.worker import WAITS, OutreachWorker
from bot.study.config import StudyConfig
from tests.outreach.conftest import FakeClock, add_participant, local, make_study, scheduled
from tests.outreach.test_worker import PROMPTS_ONLY, sent_texts
from tests.stand_ins.rasa_api import RasaApiStandIn
from tests.stand_ins.telegram_api import TelegramApiStandIn

pytestmark = pytest.mark.usefixtures("database_url")

SENT = OutreachStatus.SENT
# A check-in prompt and a dose reminder due at the same moment, 18:00.
BOTH_AT_SIX = make_study(
    visits=[],
    dose_reminders={"enabled": True, "times": ["18:00"]},
    checkins={"default_time": "18:00", "nudge_after_minutes": 0},
    outreach={"late_grace_minutes": 60},
)


class CountingRasa(RasaHttpApi):
    """Rasa takes a moment over each prompt; notes how many were in flight at most, and
    what happened in which order."""

    def __init__(self, *args: Any, timeline: list[tuple[str, str]]) -> None:
        super().__init__(*args)
        self.in_flight = 0
        self.most = 0
        self.timeline = timeline

    async def trigger_intent(self, **kwargs: Any) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.timeline.append(("prompt starts", kwargs["sender_id"]))
        try:
            await asyncio.sleep(0.05)
            await super().trigger_intent(**kwargs)
        finally:
            self.in_flight -= 1
            self.timeline.append(("prompt done", kwargs["sender_id"]))


class HeldRasa(RasaHttpApi):
    """Rasa holds every prompt until the test lets them go."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def trigger_intent(self, **kwargs: Any) -> None:
        self.entered.set()
        await self.release.wait()
        await super().trigger_intent(**kwargs)


Factory = Callable[..., OutreachWorker]


@pytest.fixture
async def workers(clock: FakeClock, rasa: RasaApiStandIn) -> AsyncIterator[Factory]:
    """Builds workers (one per "process") with a given Rasa client and concurrency."""
    made: list[dict[Channel, ChannelClient]] = []

    def build(
        rasa_api: RasaHttpApi, study: StudyConfig, concurrency: int, batch: int = 7
    ) -> OutreachWorker:
        clients = channel_clients(get_settings())
        made.append(clients)
        return OutreachWorker(
            rasa=rasa_api,
            clients=clients,
            clock=clock,
            study=lambda: study,
            concurrency=concurrency,
            batch=batch,  # several batches by default
        )

    yield build
    for clients in made:
        await close_clients(clients)


def on_telegram(clock: FakeClock, study: StudyConfig, count: int) -> list[str]:
    """Participants on Telegram, each with their own chat; their conversation IDs."""
    return [
        add_participant(
            study=study, study_id=f"P-{index:02d}", address=str(6000 + index), enrolled_at=clock()
        ).sender_id
        for index in range(count)
    ]


async def test_two_concurrent_workers_send_every_due_prompt_exactly_once(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    workers: Factory,
) -> None:
    senders = on_telegram(clock, PROMPTS_ONLY, 30)
    timeline: list[tuple[str, str]] = []
    one = CountingRasa(rasa.base_url, rasa.token, timeline=timeline)
    two = CountingRasa(rasa.base_url, rasa.token, timeline=timeline)

    await workers(one, PROMPTS_ONLY, 4).tick()  # 12:00: plans
    clock.set(local(2026, 3, 2, 18))
    await asyncio.gather(workers(one, PROMPTS_ONLY, 4).tick(), workers(two, PROMPTS_ONLY, 4).tick())

    assert sorted(call.conversation_id for call in rasa.triggers()) == sorted(senders)
    prompts = scheduled(kind="checkin_prompt", due_at=local(2026, 3, 2, 18))
    assert [row.status for row in prompts] == [SENT] * 30
    assert len(scheduled(kind="checkin_nudge")) == 30  # one per sent prompt, none twice
    # Each worker sent several at once, never more than its concurrency.
    assert 1 < one.most <= 4
    assert two.most <= 4


async def test_a_participants_messages_go_one_after_another_in_order(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    workers: Factory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    senders = on_telegram(clock, BOTH_AT_SIX, 3)
    timeline: list[tuple[str, str]] = []
    counting = CountingRasa(rasa.base_url, rasa.token, timeline=timeline)

    async def noted_deliver(client: Any, participant: Any, *args: Any, **kwargs: Any) -> Any:
        timeline.append(("reminder", participant.sender_id))
        return await delivery.deliver(client, participant, *args, **kwargs)

    monkeypatch.setattr(outreach_worker, "deliver", noted_deliver)
    worker = workers(counting, BOTH_AT_SIX, 8)
    await worker.tick()
    clock.set(local(2026, 3, 2, 18))
    await worker.tick()

    for sender in senders:  # the prompt (planned first) is done before the reminder goes
        assert [what for what, who in timeline if who == sender] == [
            "prompt starts",
            "prompt done",
            "reminder",
        ]
    assert counting.most > 1  # while different participants' prompts overlapped
    assert len(sent_texts(telegram)) == 3
    assert [row.status for row in scheduled(due_at=local(2026, 3, 2, 18))] == [SENT] * 6


async def test_a_message_waits_while_another_worker_sends_the_participants_earlier_one(
    clock: FakeClock,
    rasa: RasaApiStandIn,
    telegram: TelegramApiStandIn,
    workers: Factory,
) -> None:
    [sender] = on_telegram(clock, BOTH_AT_SIX, 1)
    held = HeldRasa(rasa.base_url, rasa.token)
    first = workers(held, BOTH_AT_SIX, 1)
    await first.tick()
    clock.set(local(2026, 3, 2, 18))
    # The first worker claims both (one batch), and is held on the prompt.
    sending = asyncio.create_task(first.tick())
    await asyncio.wait_for(held.entered.wait(), timeout=10)
    [reminder] = scheduled(kind="dose_reminder", due_at=local(2026, 3, 2, 18))
    assert reminder.status is OutreachStatus.SENDING  # claimed by the first worker too
    held.release.set()
    await asyncio.wait_for(sending, timeout=10)
    assert [row.status for row in scheduled(due_at=local(2026, 3, 2, 18))] == [SENT, SENT]

    # Another day: the second worker claims the reminder while the first holds the prompt.
    clock.set(local(2026, 3, 3, 17, 59))
    held = HeldRasa(rasa.base_url, rasa.token)
    first = workers(held, BOTH_AT_SIX, 1, batch=1)  # claims the oldest (the prompt) alone
    await first.tick()  # plans (nothing due yet)
    clock.set(local(2026, 3, 3, 18))
    sending = asyncio.create_task(first.tick())
    await asyncio.wait_for(held.entered.wait(), timeout=10)
    second = workers(RasaHttpApi(rasa.base_url, rasa.token), BOTH_AT_SIX, 4)
    await second.tick()
    [reminder] = scheduled(kind="dose_reminder", due_at=local(2026, 3, 3, 18))
    assert (reminder.status, reminder.note) == (OutreachStatus.PENDING, WAITS)
    assert len(sent_texts(telegram)) == 1  # yesterday's reminder only

    held.release.set()
    await asyncio.wait_for(sending, timeout=10)
    await second.tick()
    rows = scheduled(due_at=local(2026, 3, 3, 18))
    assert [row.status for row in rows] == [SENT, SENT]
    assert len(sent_texts(telegram)) == 2
    assert sorted(call.conversation_id for call in rasa.triggers()) == [sender, sender]
