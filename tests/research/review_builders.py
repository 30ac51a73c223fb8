"""Builders for log-review tests: real Rasa trackers saved through Rasa's SQLTrackerStore.

`scenario()` stores four conversations (and their participants, escalations and message
log rows) that the conversation, NLU review and console tests share.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from bot.db.models import (
    Channel,
    Direction,
    Escalation,
    EscalationLevel,
    EscalationType,
    MessageLog,
    Participant,
)
from bot.db.repository import enroll_participant
from bot.escalation.records import raise_escalation
from bot.research.conversations import tracker_events

DAY_1 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
DAY_2 = datetime(2025, 3, 4, 9, 0, tzinfo=timezone.utc)
DAY_5 = datetime(2025, 3, 7, 9, 0, tzinfo=timezone.utc)
DAY_6 = datetime(2025, 3, 8, 9, 0, tzinfo=timezone.utc)


def at(moment: datetime, seconds: float = 0) -> float:
    """An event timestamp (epoch seconds) some seconds after a moment."""
    return moment.timestamp() + seconds


def user(
    message: str,
    intent: str,
    confidence: float,
    when: float,
    *,
    topic: str | None = None,
    topic_confidence: float | None = None,
    entities: Sequence[dict[str, Any]] = (),
    red_flags: Sequence[str] = (),
    log_id: int | None = None,
) -> UserUttered:
    """A participant message with what the NLU made of it (as Rasa stores it)."""
    intent_data: dict[str, Any] = {"name": intent, "confidence": confidence}
    parse_data: dict[str, Any] = {
        "intent_ranking": [intent_data],
        "red_flags": [{"category": flag, "text": flag} for flag in red_flags],
    }
    if topic is not None:
        intent_data["full_retrieval_intent_name"] = topic
        parse_data["response_selector"] = {
            "all_retrieval_intents": ["faq"],
            "faq": {
                "response": {
                    "confidence": topic_confidence,
                    "intent_response_key": topic,
                    "utter_action": f"utter_{topic}",
                    "responses": [],
                },
                "ranking": [],
            },
        }
    metadata = {"message_log_id": log_id} if log_id is not None else None
    return UserUttered(
        message,
        intent=intent_data,
        entities=list(entities),
        parse_data=parse_data,
        timestamp=when,
        metadata=metadata,
    )


def trigger(intent: str, when: float) -> UserUttered:
    """What Rasa stores for `trigger_intent` (not a participant message)."""
    return UserUttered(
        f"EXTERNAL: {intent}", intent={"name": intent, "confidence": 1.0}, timestamp=when
    )


def action(name: str, when: float, policy: str = "RulePolicy") -> ActionExecuted:
    """An action the assistant ran."""
    return ActionExecuted(name, policy=policy, confidence=1.0, timestamp=when)


def bot(message: str, when: float, buttons: Sequence[str] = ()) -> BotUttered:
    """A reply of the assistant."""
    data = {"buttons": [{"title": b, "payload": b} for b in buttons]} if buttons else {}
    return BotUttered(message, data, timestamp=when)


def slot(name: str, value: Any, when: float) -> SlotSet:
    """A slot set."""
    return SlotSet(name, value, timestamp=when)


class TrackerWriter:
    """Saves trackers the way the Rasa server does, into the test database."""

    def __init__(self, url: str) -> None:
        self.store = SQLTrackerStore(host=url)

    def save(self, sender_id: str, events: Sequence[Event]) -> None:
        """Store a conversation's events."""
        tracker = DialogueStateTracker.from_events(sender_id, list(events))
        asyncio.run(self.store.save(tracker))

    def clear(self) -> None:
        """Delete every stored event: the PostgreSQL test database outlives one test.

        (Each SQLite test has a new file, and a test's open session may hold its lock.)
        """
        if self.store.engine.dialect.name == "sqlite":
            return
        with self.store.engine.begin() as connection:
            if inspect(connection).has_table("events"):
                connection.execute(text("DELETE FROM events"))


@contextmanager
def tracker_writer(url: str) -> Iterator[TrackerWriter]:
    """A TrackerWriter on an empty `events` table, emptied and closed afterwards."""
    writer = TrackerWriter(url)
    writer.clear()
    try:
        yield writer
    finally:
        writer.clear()
        writer.store.engine.dispose()


def user_event_ids(session: Session, sender_id: str) -> dict[str, int]:
    """The tracker event IDs of a conversation's user messages, by text."""
    rows = session.execute(
        select(tracker_events.c.id, tracker_events.c.data).where(
            tracker_events.c.sender_id == sender_id, tracker_events.c.type_name == "user"
        )
    ).all()
    return {json.loads(row.data)["text"]: row.id for row in rows}


def _participant(session: Session, study_id: str, channel: Channel) -> Participant:
    """A participant whose conversation ID is their study ID."""
    return enroll_participant(
        session=session, study_id=study_id, channel=channel, timezone="America/Chicago"
    )


def _log(
    session: Session,
    participant: Participant,
    direction: Direction,
    message: str,
    created_at: datetime,
    status: str,
) -> MessageLog:
    """A message-log row at a given time."""
    row = MessageLog(
        participant_id=participant.id,
        sender_id=participant.sender_id,
        channel=participant.channel,
        direction=direction,
        text=message,
        delivery_status=status,
        created_at=created_at,
        updated_at=created_at,
    )
    session.add(row)
    session.flush()
    return row


def _escalation(
    session: Session,
    participant: Participant,
    level: EscalationLevel,
    type: EscalationType,
    reason: str,
    created_at: datetime,
) -> Escalation:
    """An escalation raised the usual way, at a given time."""
    escalation = raise_escalation(
        session=session, participant_id=participant.id, level=level, type=type, reason=reason
    )
    escalation.created_at = created_at
    session.flush()
    return escalation


@dataclass(frozen=True)
class Scenario:
    """What scenario() stored."""

    participants: dict[str, Participant]
    escalations: dict[str, Escalation]
    staff_message: MessageLog
    unhandled_message: MessageLog


def _p001(writer: TrackerWriter, session: Session, participant: Participant) -> None:
    """P-001 (SMS), day 1: a check-in prompt, a greeting and a symptom, all confident."""
    inbound = _log(session, participant, Direction.INBOUND, "hi", DAY_1, "received")
    _log(session, participant, Direction.OUTBOUND, "Hello! How are you?", DAY_1, "delivered")
    session.commit()  # SQLite: the tracker store writes through another connection
    writer.save(
        participant.sender_id,
        [
            action("action_session_start", at(DAY_1, -60)),
            SessionStarted(timestamp=at(DAY_1, -60)),
            action("action_listen", at(DAY_1, -60)),
            trigger("start_checkin", at(DAY_1, -30)),
            user("hi", "greet", 0.98, at(DAY_1), log_id=inbound.id),
            action("utter_greet", at(DAY_1, 1)),
            bot("Hello! How are you?", at(DAY_1, 1)),
            action("action_listen", at(DAY_1, 2)),
            user(
                "i feel sick to my stomach",
                "report_symptom",
                0.91,
                at(DAY_1, 60),
                entities=[{"entity": "SYMPTOM", "value": "nausea", "start": 7, "end": 25}],
            ),
            action("symptom_form", at(DAY_1, 61), policy="RulePolicy"),
            ActiveLoop("symptom_form", timestamp=at(DAY_1, 61)),
            slot("symptom", "nausea", at(DAY_1, 62)),
            bot("How bad is it?", at(DAY_1, 62), buttons=["1 Mild", "2 Bad"]),
        ],
    )


def _p002(writer: TrackerWriter) -> None:
    """P-002 (Telegram), day 2: a fallback, then an FAQ whose topic is unsure."""
    writer.save(
        "P-002",
        [
            user("blorp the thing", "nlu_fallback", 0.4, at(DAY_2)),
            action("action_fallback_help", at(DAY_2, 1)),
            bot("Sorry, I did not get that.", at(DAY_2, 1)),
            user(
                "whats the fake pill",
                "faq",
                0.9,
                at(DAY_2, 60),
                topic="faq/placebo",
                topic_confidence=0.45,
            ),
            action("action_answer_faq", at(DAY_2, 61)),
            bot("A placebo looks like the study drug.", at(DAY_2, 61)),
        ],
    )


def _p003(
    writer: TrackerWriter, session: Session, participant: Participant
) -> tuple[Escalation, MessageLog, MessageLog]:
    """P-003 (SMS), day 5: asks for a person, handed to staff, a nurse writes."""
    inbound = _log(
        session, participant, Direction.INBOUND, "i want to talk to a person", DAY_5, "received"
    )
    _log(
        session,
        participant,
        Direction.OUTBOUND,
        "A nurse will text you soon. Reply 1 for OK",
        DAY_5,
        "delivered",
    )
    staff = _log(
        session,
        participant,
        Direction.OUTBOUND,
        "Hello, this is the study nurse. How can I help?",
        DAY_5.replace(minute=20),
        "sent",
    )
    unhandled = _log(
        session, participant, Direction.INBOUND, "STOP", DAY_5.replace(hour=11), "stop"
    )
    session.commit()
    writer.save(
        participant.sender_id,
        [
            user("i want to talk to a person", "request_human", 0.95, at(DAY_5), log_id=inbound.id),
            action("action_request_human", at(DAY_5, 1)),
            bot("A nurse will text you soon.", at(DAY_5, 1), buttons=["OK"]),
            ConversationPaused(timestamp=at(DAY_5, 2)),
        ],
    )
    escalation = _escalation(
        session,
        participant,
        EscalationLevel.URGENT,
        EscalationType.HANDOFF,
        "asked to talk to a person",
        DAY_5.replace(microsecond=500_000),
    )
    session.commit()
    return escalation, staff, unhandled


def _p004(writer: TrackerWriter, session: Session, participant: Participant) -> Escalation:
    """P-004 (web), day 6: a red flag."""
    writer.save(
        participant.sender_id,
        [
            user("crushing chest pain", "emergency", 1.0, at(DAY_6), red_flags=["chest_pain"]),
            action("action_emergency", at(DAY_6, 1)),
            bot("Call 911 now.", at(DAY_6, 1)),
        ],
    )
    return _escalation(
        session,
        participant,
        EscalationLevel.EMERGENCY,
        EscalationType.EMERGENCY,
        "red flag: chest pain",
        DAY_6.replace(second=2),
    )


def scenario(writer: TrackerWriter, session: Session) -> Scenario:
    """Four conversations on four days (committed): see the builders above."""
    participants = {
        "P-001": _participant(session, "P-001", Channel.SMS),
        "P-002": _participant(session, "P-002", Channel.TELEGRAM),
        "P-003": _participant(session, "P-003", Channel.SMS),
        "P-004": _participant(session, "P-004", Channel.WEB),
    }
    session.commit()
    _p001(writer, session, participants["P-001"])
    _p002(writer)
    handoff, staff, unhandled = _p003(writer, session, participants["P-003"])
    emergency = _p004(writer, session, participants["P-004"])
    session.commit()
    return Scenario(
        participants=participants,
        escalations={"handoff": handoff, "emergency": emergency},
        staff_message=staff,
        unhandled_message=unhandled,
    )
