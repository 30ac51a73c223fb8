"""The windowed tracker store (bot.db.tracker_store) against Rasa's own SQLTrackerStore.

The same scripted conversations (a form with requested_slot, questions inside it, a
rejected form, slots set long ago, a pause and resume, a follow-up action, a fallback that
reverts the user's message, a new session) go through both stores, turn by turn, with a
window of 2 turns so that it is cut again and again, inside the form too. After every turn
the two trackers must agree on everything a policy, an action or Rasa's processor reads.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa.core.actions.action import ActionSessionStart
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME, REQUESTED_SLOT
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    FollowupAction,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import create_engine, text

from bot.core.settings import PROJECT_ROOT, Settings
from bot.db.tracker_store import WindowedSQLTrackerStore

# The longest max_history of config.yml's policies (TEDPolicy: 5; MemoizationPolicy: 5).
MAX_HISTORY = 5

Turn = Callable[[DialogueStateTracker, Domain], list[Event]]


@pytest.fixture(scope="module")
def domain() -> Domain:
    """The project's domain (its slots, forms and actions)."""
    return Domain.load(str(PROJECT_ROOT / "domain"))


def user(intent: str, text: str = "") -> UserUttered:
    """A participant's message read as `intent`."""
    return UserUttered(
        text or intent,
        {"name": intent, "confidence": 0.9},
        parse_data={"intent": {"name": intent, "confidence": 0.9}, "text": text or intent},
        input_channel="rest",
    )


def said(action: str, *events: Event, text: str = "ok") -> list[Event]:
    """An action that said something (and may return events), then listening."""
    return [ActionExecuted(action), *events, BotUttered(text), ActionExecuted(ACTION_LISTEN_NAME)]


def session_start(tracker: DialogueStateTracker, domain: Domain) -> list[Event]:
    """What Rasa's processor logs for action_session_start (slots carried over)."""
    action, started = ActionExecuted(ACTION_SESSION_START_NAME), SessionStarted()
    return [
        action,
        started,
        *ActionSessionStart._slot_set_events_from_tracker(tracker),
        ActionExecuted(ACTION_LISTEN_NAME),
    ]


def fixed(*events: Callable[[], Event]) -> Turn:
    """A turn of events made fresh when it runs (so timestamps keep increasing)."""
    return lambda tracker, domain: [make() for make in events]


def turn(intent: str, action: str, *slots: tuple[str, Any]) -> Turn:
    """A participant message answered by one action that may set slots."""
    return lambda tracker, domain: [
        user(intent),
        *said(action, *[SlotSet(name, value) for name, value in slots]),
    ]


def form_step(slot: str, value: Any, next_slot: str | None) -> Turn:
    """An answer the check-in form takes: the slot filled, the next question asked."""
    return lambda tracker, domain: [
        user("answer", str(value)),
        ActionExecuted("checkin_form"),
        SlotSet(slot, value),
        SlotSet(REQUESTED_SLOT, next_slot),
        BotUttered(f"question {next_slot}"),
        ActionExecuted(ACTION_LISTEN_NAME),
    ]


def conversation() -> list[Turn]:
    """A long scripted conversation through everything the store must keep."""
    start_form: Turn = lambda tracker, domain: [  # noqa: E731
        user("start_checkin"),
        ActionExecuted("action_start_checkin"),
        SlotSet("checkin_id", 7.0),
        ActionExecuted("checkin_form"),
        ActiveLoop("checkin_form"),
        SlotSet(REQUESTED_SLOT, "checkin_feeling"),
        BotUttered("How are you feeling?"),
        ActionExecuted(ACTION_LISTEN_NAME),
    ]
    question_in_form: Turn = lambda tracker, domain: [  # noqa: E731
        user("faq", "what is a placebo"),
        ActionExecuted("action_answer_faq"),
        SlotSet("last_answer", "faq/placebo"),
        BotUttered("A placebo is ..."),
        ActionExecuted("checkin_form"),
        BotUttered("How are you feeling?"),
        ActionExecuted(ACTION_LISTEN_NAME),
    ]
    rejected: Turn = lambda tracker, domain: [  # noqa: E731
        user("bot_challenge"),
        ActionExecutionRejected("checkin_form"),
        *said("utter_iamabot"),
    ]
    finish_form: Turn = lambda tracker, domain: [  # noqa: E731
        user("answer", "no"),
        ActionExecuted("checkin_form"),
        SlotSet("checkin_question", False),
        SlotSet(REQUESTED_SLOT, None),
        ActiveLoop(None),
        *said("action_finish_checkin"),
    ]
    followup: Turn = lambda tracker, domain: [  # noqa: E731
        user("request_human"),
        ActionExecuted("action_request_human"),
        FollowupAction("utter_anything_else"),
    ]
    after_followup: Turn = lambda tracker, domain: [  # noqa: E731
        ActionExecuted("utter_anything_else"),
        BotUttered("Anything else?"),
        ActionExecuted(ACTION_LISTEN_NAME),
    ]
    fallback: Turn = lambda tracker, domain: [  # noqa: E731
        user("nlu_fallback", "blorp"),
        ActionExecuted("action_default_fallback"),
        BotUttered("Sorry?"),
        UserUtteranceReverted(),
    ]
    paused_message: Turn = lambda tracker, domain: [user("greet", "are you there")]  # noqa: E731
    return [
        session_start,
        turn("greet", "utter_greet", ("language", "es")),
        turn("faq", "action_answer_faq", ("last_answer", "faq/payment")),
        turn("thank", "utter_you_are_welcome"),
        start_form,
        form_step("checkin_feeling", 3, "checkin_new_problem"),
        question_in_form,
        form_step("checkin_new_problem", "headache", "checkin_medicine"),
        rejected,
        form_step("checkin_medicine", True, "checkin_medicine"),
        form_step("checkin_medicine", True, "checkin_medicine"),
        form_step("checkin_medicine", True, "checkin_medicine"),
        form_step("checkin_medicine", True, "checkin_medicine"),
        form_step("checkin_medicine", True, "checkin_question"),
        finish_form,
        turn("greet", "utter_greet"),
        fixed(ConversationPaused),
        paused_message,
        paused_message,
        paused_message,
        paused_message,
        paused_message,
        fixed(ConversationResumed),
        turn("thank", "utter_you_are_welcome"),
        followup,
        after_followup,
        fallback,
        turn("faq", "action_answer_faq", ("last_answer", "faq/visits")),
        start_form,
        form_step("checkin_feeling", 2, "checkin_new_problem"),
        *[question_in_form, form_step("checkin_new_problem", "no", "checkin_medicine")] * 3,
        turn("pause", "action_pause_checkin", (REQUESTED_SLOT, None)),
        fixed(lambda: ActiveLoop(None)),
        *[turn("faq", "action_answer_faq", ("last_answer", f"faq/{n}")) for n in range(8)],
        session_start,
        turn("greet", "utter_greet"),
        start_form,
        *[form_step("checkin_feeling", n, "checkin_feeling") for n in range(9)],
        form_step("checkin_feeling", 1, "checkin_new_problem"),
        finish_form,
        *[turn("greet", "utter_greet"), turn("thank", "utter_you_are_welcome")] * 4,
    ]


def view(tracker: DialogueStateTracker, domain: Domain) -> dict[str, Any]:
    """What the policies, the actions and Rasa's processor read from a tracker."""
    return {
        "slots": tracker.current_slot_values(),
        "active_loop": tracker.active_loop,
        "paused": tracker.is_paused(),
        "latest_action_name": tracker.latest_action_name,
        "intent": tracker.latest_message.intent if tracker.latest_message else None,
        "followup_action": tracker.followup_action,
        "past_states": tracker.past_states(domain)[-MAX_HISTORY:],
        "ml_states": tracker.past_states(domain, ignore_rule_only_turns=True)[-MAX_HISTORY:],
        "last_user_time": tracker.get_last_event_for(UserUttered).timestamp
        if tracker.get_last_event_for(UserUttered)
        else None,
    }


@pytest.fixture
def stores(database_url: str, tmp_path: Path, domain: Domain) -> Iterator[tuple[Any, Any]]:
    """The windowed store (2 turns) on the test database; Rasa's own on another one."""
    windowed = WindowedSQLTrackerStore(domain=domain, host=database_url, window_turns=2, history=5)
    plain = SQLTrackerStore(domain=domain, host=f"sqlite:///{tmp_path / 'plain.db'}")
    yield windowed, plain
    windowed.engine.dispose()
    plain.engine.dispose()
    clear_events(database_url)


def clear_events(url: str) -> None:
    """Empty Rasa's events table (the database fixture empties only the project's tables)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM events"))
    engine.dispose()


async def run_turn(
    store: Any, sender: str, step: Turn, domain: Domain, same_as: list[Event] | None = None
) -> list[Event]:
    """Read the tracker, add one turn's events, save it (what Rasa does per message).

    With `same_as`, the turn's events are copies of those (the same timestamps), except
    a session start's, which depend on the tracker (the slots it carries over)."""
    tracker = await store.retrieve(sender)
    if tracker is None:
        tracker = DialogueStateTracker(sender, domain.slots)
    if same_as is None or step is session_start:
        events = step(tracker, domain)
    else:
        events = [Event.from_parameters(event.as_dict()) for event in same_as]
    for event in events:
        tracker.update(event, domain)
    await store.save(tracker)
    return events


def stored_events(url: str, sender: str) -> list[dict[str, Any]]:
    """The events table's rows of a conversation, in order."""
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
        ).all()
    engine.dispose()
    return [json.loads(row.data) for row in rows]


async def test_windowed_trackers_agree_with_rasa_s_after_every_turn(
    stores: tuple[Any, Any], domain: Domain
) -> None:
    windowed, plain = stores
    cuts = 0
    for number, step in enumerate(conversation()):
        events = await run_turn(plain, "p1", step, domain)
        await run_turn(windowed, "p1", step, domain, same_as=events)
        ours = await windowed.retrieve("p1")
        theirs = await plain.retrieve("p1")
        assert view(ours, domain) == view(theirs, domain), f"after turn {number}"
        cuts += ours.events[0].type_name == ActionExecuted.type_name and (
            ours.events[1].type_name == SessionStarted.type_name
            and len(ours.events) < len(theirs.events)
        )
    # The window was cut (the trackers read are shorter than Rasa's) many times.
    assert cuts > 10
    assert len(ours.events) < len(theirs.events)


async def test_every_event_is_stored_once_in_order(
    stores: tuple[Any, Any], database_url: str, domain: Domain
) -> None:
    windowed, plain = stores
    for step in conversation():
        events = await run_turn(plain, "p2", step, domain)
        await run_turn(windowed, "p2", step, domain, same_as=events)
    ours = [(e["event"], e.get("name")) for e in stored_events(database_url, "p2")]
    full = await windowed.retrieve_full_tracker("p2")
    rasa_full = await plain.retrieve_full_tracker("p2")
    # The two conversations' events differ only in what a session start carries over
    # (the same slot values, from fewer SlotSet events): compare without those.
    theirs = [(e.type_name, e.as_dict().get("name")) for e in rasa_full.events]
    assert [e for e in ours if e[0] != SlotSet.type_name] == [
        e for e in theirs if e[0] != SlotSet.type_name
    ]
    assert len(full.events) == len(ours)


async def test_saving_twice_and_a_tracker_not_read_here(
    stores: tuple[Any, Any], database_url: str, domain: Domain
) -> None:
    windowed, _ = stores
    for step in conversation()[:12]:
        await run_turn(windowed, "p3", step, domain)
    count = len(stored_events(database_url, "p3"))
    # The same tracker saved again, with and without new events: only the new ones land.
    tracker = await windowed.retrieve("p3")
    await windowed.save(tracker)
    tracker.update(user("greet"), domain)
    await windowed.save(tracker)
    await windowed.save(tracker)
    assert len(stored_events(database_url, "p3")) == count + 1
    assert stored_events(database_url, "p3")[-1]["event"] == "user"
    # A tracker the store did not read (Rasa's PUT …/tracker/events builds one from the
    # request) is saved as Rasa saves it, and the conversation is read from Rasa's query.
    full = await windowed.retrieve_full_tracker("p3")
    replaced = DialogueStateTracker.from_dict(
        "p3", [e.as_dict() for e in full.events] + [user("thank").as_dict()], domain.slots
    )
    rasa_store = SQLTrackerStore(domain, host=database_url)
    in_session = len((await rasa_store.retrieve("p3")).events)  # what Rasa's save counts
    await windowed.save(replaced)
    rows = stored_events(database_url, "p3")
    assert len(rows) == count + 1 + len(replaced.events) - in_session
    assert rows[-1]["parse_data"]["intent"]["name"] == "thank"
    again = await windowed.retrieve("p3")
    assert [e.as_dict() for e in again.events] == [
        e.as_dict() for e in (await rasa_store.retrieve("p3")).events
    ]
    rasa_store.engine.dispose()
    # retrieve_full_tracker is every stored event, whatever the window.
    assert len((await windowed.retrieve_full_tracker("p3")).events) == len(rows)


async def test_two_servers_on_one_database_see_the_same_conversation(
    stores: tuple[Any, Any], database_url: str, domain: Domain
) -> None:
    windowed, plain = stores
    other = WindowedSQLTrackerStore(domain=domain, host=database_url, window_turns=2, history=5)
    try:
        for number, step in enumerate(conversation()):
            # Turns alternate between the two servers (Rasa's lock store orders them).
            server = (windowed, other)[number % 2]
            events = await run_turn(plain, "p4", step, domain)
            await run_turn(server, "p4", step, domain, same_as=events)
            mine, theirs = await windowed.retrieve("p4"), await other.retrieve("p4")
            assert [e.as_dict() for e in mine.events] == [e.as_dict() for e in theirs.events]
            assert view(mine, domain) == view(await plain.retrieve("p4"), domain)
        assert len(stored_events(database_url, "p4")) == len(
            (await windowed.retrieve_full_tracker("p4")).events
        )
    finally:
        other.engine.dispose()


def test_endpoints_give_rasa_the_windowed_store_with_the_settings_window(
    database_url: str, domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(database_url=database_url, tracker_window_turns=7)
    for name, value in settings.child_environment().items():
        monkeypatch.setenv(name, value)
    endpoints = AvailableEndpoints.read_endpoints(str(PROJECT_ROOT / "endpoints.yml"))
    store = TrackerStore.create(endpoints.tracker_store, domain)
    assert isinstance(store, WindowedSQLTrackerStore)
    assert (store.window_turns, str(store.engine.url)) == (7, database_url)
    store.engine.dispose()


async def test_a_window_outrun_by_other_writers_is_read_as_rasa_reads(
    stores: tuple[Any, Any], database_url: str, domain: Domain
) -> None:
    windowed, _ = stores
    rasa_store = SQLTrackerStore(domain, host=database_url)
    for step in conversation()[:14]:
        await run_turn(windowed, "p5", step, domain)
    # Something that does not know the window (Rasa's own store) starts a new session.
    await run_turn(rasa_store, "p5", session_start, domain)
    await run_turn(rasa_store, "p5", turn("greet", "utter_greet"), domain)
    ours, theirs = await windowed.retrieve("p5"), await rasa_store.retrieve("p5")
    assert [e.as_dict() for e in ours.events] == [e.as_dict() for e in theirs.events]
    # The conversation's events gone (and only them): read as Rasa reads, row rewritten.
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM events WHERE sender_id = 'p5'"))
    engine.dispose()
    assert await windowed.retrieve("p5") is None
    for step in conversation()[:3]:
        await run_turn(windowed, "p5", step, domain)
    ours, theirs = await windowed.retrieve("p5"), await rasa_store.retrieve("p5")
    assert [e.as_dict() for e in ours.events] == [e.as_dict() for e in theirs.events]
    engine = create_engine(database_url)
    with engine.connect() as connection:
        first = connection.execute(
            text("SELECT first_event_id FROM tracker_windows WHERE sender_id = 'p5'")
        ).scalar_one()
        first_type = connection.execute(
            text("SELECT type_name FROM events WHERE id = :i"), {"i": first}
        ).scalar_one()
    engine.dispose()
    assert first_type == SessionStarted.type_name  # the row points at the new events again
    rasa_store.engine.dispose()
