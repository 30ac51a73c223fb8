"""Which demo messages become which tracker events (the replay itself: tests/e2e)."""

from __future__ import annotations

from bot.db.models import Channel, Direction
from bot.demo.conversations import DemoMessage, tracker_events_for

IN, OUT = Direction.INBOUND, Direction.OUTBOUND


def message(direction: Direction, text: str, at: float) -> DemoMessage:
    return DemoMessage("DEMO-001", Channel.SMS, direction, text, at)


def test_replies_become_bot_events_and_outreach_stays_out() -> None:
    parse = {"intent": {"name": "affirm", "confidence": 0.97}, "entities": [], "text": "ok go"}
    events = tracker_events_for(
        [
            message(OUT, "Hi! It is time for your check-in.", 1000.0),
            message(IN, "ok go", 1300.0),
            message(OUT, "How do you feel today, all in all?", 1302.0),
            message(OUT, "Reply 1-5.", 1304.0),
            message(OUT, "Good morning! This is your reminder.", 50000.0),
        ],
        {"ok go": parse},
    )
    kinds = [(event["event"], event.get("text") or event.get("name")) for event in events]
    assert kinds == [
        ("action", "action_session_start"),
        ("session_started", None),
        ("action", "action_listen"),
        ("user", "ok go"),
        ("bot", "How do you feel today, all in all?"),
        ("bot", "Reply 1-5."),
    ]
    user = events[3]
    assert user["parse_data"] is parse
    assert user["timestamp"] == 1300.0
    assert user["input_channel"] == "twilio"
