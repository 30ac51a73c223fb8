"""The turn guard with Rasa's own agent and SQL tracker store (bot/safety/turn_guard.py):
what a turn left behind is read from the database, and the tracker is loaded only when
there is something to make good.

The dialogue is a stand-in (`Dialogue.handle_message` writes the events a turn of Rasa's
processor writes, through Rasa's SQLTrackerStore on the test database), so no model is
needed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    Event,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.orm import Session

from bot.db.models import StaffRole, StaffUser
from bot.db.repository import ensure_web_participant
from bot.db.types import utcnow
from bot.handoff.repository import start_handoff
from bot.safety.turn_guard import guard_turn
from bot.study.config import current_study
from bot.study.wording import messages

REPLY = "A placebo looks like the drug."


@dataclass
class Dialogue:
    """What the stand-in turn does: the events it adds after the message, and its replies."""

    events: list[Event] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)


class CountingStore(SQLTrackerStore):
    """Rasa's SQL tracker store, counting the trackers loaded."""

    loads = 0

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """Load a tracker (counted)."""
        self.loads += 1
        return await super().retrieve(sender_id)


class StandInAgent(Agent):
    """Rasa's agent whose turn is scripted (the processor's saves, no model)."""

    dialogue = Dialogue()
    # Rasa's `events` table is not emptied between tests (it is not ours): a sender each.
    sender = "web-guardtracker"

    async def handle_message(self, message: UserMessage) -> None:
        """Store the message and the dialogue's events, then send its replies."""
        async with self.lock_store.lock(message.sender_id):
            tracker = await self._stored(message.sender_id)
            tracker.update(UserUttered(message.text, message_id=message.message_id))
            for event in self.dialogue.events:
                tracker.update(event)
            await self.tracker_store.save(tracker)
        for text in self.dialogue.replies:
            await message.output_channel.send_text_message(message.sender_id, text)

    async def _stored(self, sender_id: str) -> DialogueStateTracker:
        """The conversation's tracker, loaded as the processor loads it (not counted)."""
        store = self.tracker_store._tracker_store  # Rasa's wrapper around CountingStore
        found = await SQLTrackerStore.retrieve(store, sender_id)
        return found if found is not None else store.init_tracker(sender_id)


@pytest.fixture
def store(database_url: str) -> Iterator[CountingStore]:
    """Rasa's SQL tracker store on the test database."""
    tracker_store = CountingStore(Domain.empty(), host=database_url)
    yield tracker_store
    tracker_store.engine.dispose()


@pytest.fixture
def agent(store: CountingStore) -> StandInAgent:
    """Rasa's agent on that store (its tracker store wraps it, as Rasa's server does)."""
    agent = StandInAgent(domain=Domain.empty(), tracker_store=store, lock_store=InMemoryLockStore())
    agent.sender = f"web-guardtracker-{secrets.token_hex(4)}"
    return agent


async def say(agent: StandInAgent, text: str, dialogue: Dialogue, message_id: str) -> list[str]:
    """One guarded turn of `text`; what the participant got."""
    agent.dialogue = dialogue
    output = CollectingOutputChannel()
    message = UserMessage(text, output, agent.sender, message_id=message_id)
    await guard_turn(agent.handle_message, message, agent)
    return [sent["text"] for sent in output.messages]


def answered(*texts: str, last: str = ACTION_LISTEN_NAME) -> Dialogue:
    """A turn that utters `texts` and ends with the action `last`."""
    events: list[Event] = []
    for text in texts:
        events += [ActionExecuted("utter_answer"), BotUttered(text)]
    return Dialogue([*events, ActionExecuted(last)], list(texts))


async def tracker(agent: StandInAgent) -> DialogueStateTracker:
    found = await agent._stored(agent.sender)
    assert found is not None
    return found


async def test_a_turn_that_answered_and_listens_loads_no_tracker(
    agent: StandInAgent, store: CountingStore
) -> None:
    await say(agent, "hello", answered("Hi!"), "m-0")
    store.loads = 0

    said = await say(agent, "what is a placebo", answered(REPLY), "m-1")

    assert said == [REPLY]
    assert store.loads == 0


async def test_a_turn_the_circuit_breaker_stopped_is_set_listening(
    agent: StandInAgent, store: CountingStore
) -> None:
    said = await say(agent, "what is a placebo", answered(REPLY, last="utter_answer"), "m-1")

    assert said == [REPLY]
    assert (await tracker(agent)).latest_action_name == ACTION_LISTEN_NAME


async def test_a_silent_turn_of_a_conversation_paused_in_rasa_gets_no_safe_reply(
    agent: StandInAgent, store: CountingStore
) -> None:
    await say(
        agent, "hello", Dialogue([ActionExecuted(ACTION_LISTEN_NAME), ConversationPaused()]), "m-0"
    )

    said = await say(agent, "are you there", Dialogue(), "m-1")

    assert said == []  # paused in Rasa with no handoff: the tracker says so


async def test_a_silent_turn_of_a_conversation_not_paused_gets_the_safe_reply(
    agent: StandInAgent,
) -> None:
    said = await say(agent, "are you there", Dialogue(), "m-1")

    assert said == messages(current_study(), "assistant_failed")


async def test_a_silent_turn_in_a_handoff_gets_no_safe_reply_and_loads_no_tracker(
    agent: StandInAgent, store: CountingStore, session: Session
) -> None:
    await say(agent, "hello", answered("Hi!"), "m-0")
    _hand_off(session, agent.sender)
    store.loads = 0

    said = await say(agent, "are you there", Dialogue(), "m-1")

    assert said == []
    assert store.loads == 0


async def test_an_emergency_answered_here_ends_the_form(
    agent: StandInAgent, store: CountingStore
) -> None:
    in_form = Dialogue([ActionExecuted("checkin_form"), ActiveLoop("checkin_form")], ["Any pain?"])
    await say(agent, "start check-in", in_form, "m-0")

    said = await say(agent, "crushing chest pain", Dialogue(), "m-1")

    assert said == messages(current_study(), "emergency")
    after = await tracker(agent)
    assert after.active_loop_name is None
    assert after.latest_action_name == ACTION_LISTEN_NAME


def _hand_off(session: Session, sender: str) -> None:
    """A staff member takes the conversation over (the handoffs table only)."""
    participant = ensure_web_participant(session=session, sender_id=sender)
    user = StaffUser(
        username="joy", display_name="Nurse Joy", role=StaffRole.STAFF, password_hash="x"
    )
    session.add(user)
    session.flush()
    start_handoff(
        session=session,
        participant_id=participant.id,
        staff_user_id=user.id,
        escalation_id=None,
        via="console",
        now=utcnow(),
    )
    session.commit()
