"""Rasa's SQL tracker store, reading only the recent part of a long conversation.

Rasa's `SQLTrackerStore` loads every event of the current session on every turn (a new
session only after 12 quiet hours), so a participant who keeps chatting pays for every
earlier turn. `WindowedSQLTrackerStore` keeps Rasa's `events` table exactly as Rasa writes
it (research, exports and the console read it) and reads a conversation as

    prefix (a few events, stored as JSON in `tracker_windows`)  +  events from a cut on

where the prefix reproduces the conversation's state at the cut: a session start (as Rasa
gives a new session), the slots set before the tail, and the tail of Rasa's *applied*
events (`DialogueStateTracker.applied_events`) long enough for every policy's history and
for a form that is still running (its first execution, which later executions fold back
to). A cut is made only at a turn boundary (just before a `UserUttered`), only when the
window holds more than twice `window_turns` turns (it keeps `window_turns`), only once the
new prefix is checked: the tracker read from it must agree with the whole one on slots,
the active loop, pause, follow-up action, latest action, message and bot utterance, and
the last `history` dialogue states the policies featurise. Otherwise the window grows.
A session start inside the window makes the window start there with no prefix, which is
exactly what Rasa's store reads.

`save` appends only the events added since `retrieve` (each turn reads O(window) events
with one indexed query and writes only its own); a tracker this store did not read (Rasa's
`PUT /conversations/<id>/tracker/events`, a new conversation) is saved the way Rasa saves
it, and the conversation's window is dropped so the next read starts from Rasa's own query.
The window row is written after the events and only if it is still the one the tracker
was read with, so several Rasa servers (turns serialised by Rasa's lock store) agree.
`retrieve_full_tracker` is Rasa's: every event of every session.

Configured in endpoints.yml (`type: bot.db.tracker_store.WindowedSQLTrackerStore`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
    deserialise_events,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.db.models import TrackerWindow
from bot.db.types import utcnow

logger = logging.getLogger(__name__)

# Turns a tracker keeps after a cut (it is cut again at twice as many).
DEFAULT_WINDOW_TURNS = 10
# Dialogue states that must agree after a cut: more than any policy's max_history (TEDPolicy
# and MemoizationPolicy: 5) and than the longest rule.
DEFAULT_HISTORY = 10
# The index a window's query needs on PostgreSQL (Rasa's own covers only sender_id).
EVENTS_INDEX = "ix_events_sender_id_id ON events (sender_id, id)"
# Set on each tracker this store reads or saves: which stored events it holds.
WINDOW_ATTRIBUTE = "_trialbot_window"


@dataclass
class _Window:
    """What a tracker read by this store holds: its stored prefix and its stored events."""

    store: int  # id() of the store that read it
    sender_id: str
    # The row's first event when the tracker was read (None: there was no row), and
    # whether the tracker was read from it (else from Rasa's query: the row is written).
    first_event_id: int | None
    from_row: bool
    # The stored prefix (JSON-ready events) and where, in tracker.events, the events read
    # from the table begin.
    prefix: list[dict[str, Any]]
    start: int
    # How many of tracker.events are stored (prefix included), and the events.id of each
    # of tracker.events[start:saved].
    saved: int
    ids: list[int] = field(default_factory=list)


class WindowedSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQLTrackerStore that reads a bounded window of a long conversation."""

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        window_turns: int | str = DEFAULT_WINDOW_TURNS,
        history: int | str = DEFAULT_HISTORY,
        **kwargs: Any,
    ) -> None:
        """Rasa's arguments (endpoints.yml's `url` arrives as `host`), plus the window size
        in turns and the number of dialogue states checked at a cut (endpoints.yml passes
        them as text)."""
        super().__init__(domain=domain, host=host, **kwargs)
        self.window_turns = int(window_turns)
        self.history = int(history)
        if self.window_turns < 1 or self.history < 1:
            raise ValueError("window_turns and history must be at least 1")
        self._windows = TrackerWindow.__table__
        if self.engine.dialect.name == "postgresql":
            # SQLite's index on sender_id already holds the rowid (events.id); PostgreSQL
            # needs both columns for `sender_id = ? AND id >= ?` to read only the window.
            with self.engine.begin() as connection:
                connection.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {EVENTS_INDEX}"))

    # Reading

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The conversation's current session: the stored prefix and the events after it."""
        with self.session_scope() as session:
            row = session.execute(
                sa.select(self._windows.c.first_event_id, self._windows.c.prefix).where(
                    self._windows.c.sender_id == sender_id
                )
            ).first()
            rows: list[Any] = []
            prefix: list[dict[str, Any]] = []
            first_event_id = None if row is None else row.first_event_id
            if row is not None:
                prefix = json.loads(row.prefix)
                rows = (
                    session.query(self.SQLEvent.id, self.SQLEvent.data)
                    .filter(
                        self.SQLEvent.sender_id == sender_id,
                        self.SQLEvent.id >= row.first_event_id,
                    )
                    .order_by(self.SQLEvent.id)
                    .all()
                )
            from_row = bool(rows)
            if not rows:
                # No window yet (or its events are gone): Rasa's own query.
                prefix = []
                rows = (
                    self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
                    .with_entities(self.SQLEvent.id, self.SQLEvent.data)
                    .all()
                )
        if not rows:
            return None
        data = [json.loads(event.data) for event in rows]
        ids = [event.id for event in rows]
        # A session started after the window's first event (written by anything that did
        # not move the window): read from there, as Rasa does.
        later_starts = [
            index
            for index, event in enumerate(data)
            if index > 0 and event.get("event") == SessionStarted.type_name
        ]
        if later_starts:
            data, ids, prefix = data[later_starts[-1] :], ids[later_starts[-1] :], []
            from_row = False
        tracker = DialogueStateTracker.from_dict(sender_id, prefix + data, self.domain.slots)
        window = _Window(
            store=id(self),
            sender_id=sender_id,
            first_event_id=first_event_id,
            from_row=from_row,
            prefix=prefix,
            start=len(prefix),
            saved=len(tracker.events),
            ids=ids,
        )
        setattr(tracker, WINDOW_ATTRIBUTE, window)
        return tracker

    # Writing

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the events added since this tracker was read, then move its window."""
        window = getattr(tracker, WINDOW_ATTRIBUTE, None)
        if (
            not isinstance(window, _Window)
            or window.store != id(self)
            or window.sender_id != tracker.sender_id
            or len(tracker.events) < window.saved
        ):
            await self._save_as_rasa_does(tracker)
            return
        new_events = list(itertools.islice(tracker.events, window.saved, None))
        if self.event_broker is not None:
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
        if new_events:
            with self.session_scope() as session:
                rows = [self._event_row(tracker.sender_id, event) for event in new_events]
                session.add_all(rows)
                session.flush()
                new_ids = [row.id for row in rows]
                session.commit()
            window.ids.extend(new_ids)
            window.saved = len(tracker.events)
        self._move_window(tracker, window)

    async def _save_as_rasa_does(self, tracker: DialogueStateTracker) -> None:
        """Rasa's own save (appends what its count of the session's events says is new),
        with the conversation's window dropped first: its next read uses Rasa's query."""
        with self.session_scope() as session:
            session.execute(
                sa.delete(self._windows).where(self._windows.c.sender_id == tracker.sender_id)
            )
            session.commit()
        await super().save(tracker)
        if hasattr(tracker, WINDOW_ATTRIBUTE):
            delattr(tracker, WINDOW_ATTRIBUTE)

    def _event_row(self, sender_id: str, event: Event) -> Any:
        """The `events` row of an event, exactly as Rasa's SQLTrackerStore.save writes it."""
        data = event.as_dict()
        return self.SQLEvent(
            sender_id=sender_id,
            type_name=event.type_name,
            timestamp=data.get("timestamp"),
            intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            action_name=data.get("name"),
            data=json.dumps(data),
        )

    # The window

    def _move_window(self, tracker: DialogueStateTracker, window: _Window) -> None:
        """Start the window at a new session, or cut it when it has grown too long; write
        the row when there is none yet."""
        events = list(tracker.events)
        stored = events[window.start : window.saved]
        starts = [
            index
            for index, event in enumerate(stored)
            if index > 0 and isinstance(event, SessionStarted)
        ]
        if starts:
            # A new session: exactly what Rasa reads (from its SessionStarted on).
            self._write_window(window, cut=starts[-1], prefix=[])
            return
        turns = [index for index, event in enumerate(stored) if isinstance(event, UserUttered)]
        if len(turns) > 2 * self.window_turns:
            cut = turns[-self.window_turns]
            prefix = self._prefix_at(tracker.sender_id, window.prefix, stored, cut)
            if prefix is not None:
                self._write_window(window, cut=cut, prefix=prefix)
                return
        if not window.from_row and window.ids:
            self._write_window(window, cut=0, prefix=window.prefix)

    def _write_window(self, window: _Window, *, cut: int, prefix: list[dict[str, Any]]) -> None:
        """Store the window as starting at stored event `cut` with `prefix`, unless another
        writer changed the row since this tracker was read."""
        first_event_id = window.ids[cut]
        values = {
            "first_event_id": first_event_id,
            "prefix": json.dumps(prefix),
            "updated_at": utcnow(),
        }
        table = self._windows
        with self.session_scope() as session:
            if window.first_event_id is None:
                try:
                    session.execute(sa.insert(table).values(sender_id=window.sender_id, **values))
                    session.commit()
                except sa.exc.IntegrityError:
                    session.rollback()
                    return
            else:
                changed = session.execute(
                    sa.update(table)
                    .where(
                        table.c.sender_id == window.sender_id,
                        table.c.first_event_id == window.first_event_id,
                    )
                    .values(**values)
                ).rowcount
                session.commit()
                if not changed:
                    return
        window.first_event_id = first_event_id
        window.from_row = True
        window.prefix = prefix
        window.start += cut
        window.ids = window.ids[cut:]

    def _prefix_at(
        self,
        sender_id: str,
        prefix: list[dict[str, Any]],
        stored: list[Event],
        cut: int,
    ) -> list[dict[str, Any]] | None:
        """The prefix that reproduces the conversation before stored event `cut` (a
        UserUttered); None when the tracker read from it would not agree with the whole
        one (then the window is not cut)."""
        slots = self.domain.slots
        before = DialogueStateTracker.from_events(
            sender_id, deserialise_events(prefix) + stored[:cut], slots
        )
        applied = before.applied_events()
        # How far back later events can reach: a running form's latest execution (its
        # next executions fold the turns since back into it).
        reach = len(applied)
        if before.active_loop_name:
            for index in range(len(applied) - 1, -1, -1):
                event = applied[index]
                if isinstance(event, ActionExecuted) and event.action_name == (
                    before.active_loop_name
                ):
                    reach = index
                    break
        tail = 0
        actions = 0
        for index in range(reach - 1, -1, -1):
            if isinstance(applied[index], ActionExecuted):
                actions += 1
                if actions == self.history + 2:
                    tail = index
                    break
        # ... from the message that started that turn, so the tail's first states and a
        # form activated in it see the message as the whole tracker does.
        while tail > 0 and not isinstance(applied[tail], UserUttered):
            tail -= 1
        new_prefix = _state_events(before, applied[:tail]) + applied[tail:]
        timestamp = (applied[tail] if tail < len(applied) else stored[cut]).timestamp
        start = [
            ActionExecuted(ACTION_SESSION_START_NAME, timestamp=timestamp),
            SessionStarted(timestamp=timestamp),
        ]
        serialised = [event.as_dict() for event in start + new_prefix]
        whole = DialogueStateTracker.from_events(
            sender_id, deserialise_events(prefix) + stored, slots
        )
        windowed = DialogueStateTracker.from_events(
            sender_id, deserialise_events(serialised) + stored[cut:], slots
        )
        differences = _differences(whole, windowed, self.domain, self.history)
        if differences:
            logger.info(
                "conversation %s: window not cut (the prefix would change %s)",
                sender_id,
                ", ".join(differences),
            )
            return None
        return serialised


def _state_events(before: DialogueStateTracker, events: list[Event]) -> list[Event]:
    """Events that restore the state `events` (applied events) leave behind, for a tracker
    that starts a session: the slots set, the active loop, a pause, the last bot message."""
    replay = before.init_copy()
    for event in events:
        replay.update(event)
    timestamp = events[-1].timestamp if events else None
    restored: list[Event] = []
    bot = next((e for e in reversed(events) if isinstance(e, BotUttered)), None)
    if bot is not None:
        restored.append(bot)
    restored += [
        SlotSet(name, slot.value, timestamp=timestamp)
        for name, slot in replay.slots.items()
        if slot.has_been_set
    ]
    if replay.active_loop is not None and replay.active_loop_name:
        # ActiveLoop keeps the message the tracker had when it ran (its trigger_message).
        trigger = replay.active_loop.trigger_message or {}
        restored.append(
            UserUttered(
                trigger.get("text"),
                trigger.get("intent"),
                trigger.get("entities"),
                parse_data=dict(trigger),
                timestamp=timestamp,
                message_id=trigger.get("message_id"),
                metadata=trigger.get("metadata"),
            )
        )
        restored.append(ActiveLoop(replay.active_loop_name, timestamp=timestamp))
    if replay.is_paused():
        restored.append(ConversationPaused(timestamp=timestamp))
    return restored


def _differences(
    whole: DialogueStateTracker, windowed: DialogueStateTracker, domain: Domain, history: int
) -> list[str]:
    """What a policy, an action or Rasa's processor could see differently in the two."""

    def loop(tracker: DialogueStateTracker) -> Any:
        return dataclasses.asdict(tracker.active_loop) if tracker.active_loop else None

    def message(event: Event | None) -> Any:
        return event.as_dict() if event is not None else None

    def slots_set(tracker: DialogueStateTracker) -> dict[str, bool]:
        return {name: slot.has_been_set for name, slot in tracker.slots.items()}

    checks = {
        "slots": lambda t: t.current_slot_values(),
        "slots set": slots_set,
        "active loop": loop,
        "pause": lambda t: t.is_paused(),
        "follow-up action": lambda t: t.followup_action,
        "latest action": lambda t: t.latest_action,
        "latest message": lambda t: message(t.latest_message),
        "latest bot message": lambda t: message(t.latest_bot_utterance),
        "last user event": lambda t: message(t.get_last_event_for(UserUttered)),
        "input channel": lambda t: t.get_latest_input_channel(),
        "dialogue states": lambda t: t.past_states(domain)[-history:],
        "dialogue states of ML policies": lambda t: t.past_states(
            domain, ignore_rule_only_turns=True
        )[-history:],
    }
    return [name for name, check in checks.items() if check(whole) != check(windowed)]
