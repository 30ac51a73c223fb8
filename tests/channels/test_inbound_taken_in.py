"""A message whose turn Rasa already saved is not run again after its handler stopped."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels.inbound_queue import InboundQueue
from bot.db.models import Channel
from bot.messaging.inbound import Stored


def stored(external_id: str, attempt: int = 2) -> Stored:
    return Stored(
        log_id=7,
        participant_id=1,
        sender_id="sms-abc",
        channel=Channel.SMS,
        text="what is a placebo",
        external_id=external_id,
        received_at=datetime.now(timezone.utc),
        attempt=attempt,
    )


async def queue_with_turns(*message_ids: str) -> InboundQueue:
    store = InMemoryTrackerStore(Domain.empty())
    tracker = DialogueStateTracker("sms-abc", slots=[])
    for message_id in message_ids:
        tracker.update(UserUttered("what is a placebo", message_id=message_id))
    await store.save(tracker)
    queue = InboundQueue(Channel.SMS, "twilio_sms")
    queue._app = SimpleNamespace(ctx=SimpleNamespace(agent=SimpleNamespace(tracker_store=store)))
    return queue


async def test_a_turn_already_in_the_conversation_is_recognised() -> None:
    queue = await queue_with_turns("SMdone", "telegram-update:12")
    assert await queue._already_taken_in(stored("SMdone"))
    assert await queue._already_taken_in(stored("update:12"))  # Telegram's message ID
    assert not await queue._already_taken_in(stored("SMnew"))


async def test_without_rasa_s_tracker_store_it_is_handled_as_usual() -> None:
    queue = InboundQueue(Channel.SMS, "twilio_sms")
    assert not await queue._already_taken_in(stored("SMdone"))
