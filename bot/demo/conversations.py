"""The demo's conversations in Rasa's tracker store, read by the real model.

The demo simulation (bot.demo.simulation) writes the project's own tables before Rasa
starts. Once Rasa answers, this gives each demo participant a tracker whose user events
carry what the trained model makes of their messages (`/model/parse`: intent ranking,
confidence, FAQ topic, entities) at the times the messages were logged — so the researcher
pages (Conversations, NLU review) show real predictions for the demo, low-confidence ones
included. The assistant's replies (what it sent within a minute of a participant's message)
become bot events; reminders and check-in prompts stay outreach, in the message log only.

It runs once: a demo participant who already has a tracker is left alone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import groupby
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.clients.rasa_http import RasaApiError, RasaHttpApi
from bot.core.settings import Settings
from bot.db.models import Channel, Direction, MessageLog, Participant
from bot.db.session import session_scope
from bot.demo.simulation import DEMO_PREFIX
from bot.research.conversations import tracker_events, tracker_store_ready

logger = logging.getLogger(__name__)

# The input channel names Rasa's own events carry (bot/channels).
INPUT_CHANNELS = {Channel.SMS: "twilio", Channel.TELEGRAM: "telegram", Channel.WEB: "rest"}


@dataclass(frozen=True)
class DemoMessage:
    """One message a demo participant sent, or the assistant sent them."""

    sender_id: str
    channel: Channel
    direction: Direction
    text: str
    timestamp: float


# An outbound message this soon after the participant's (or a reply to it) is a reply.
REPLY_WINDOW_SECONDS = 60.0


def demo_messages_to_replay(*, session: Session) -> list[DemoMessage]:
    """Demo participants' messages both ways, oldest first, for those without a tracker."""
    rows = session.execute(
        select(
            MessageLog.sender_id,
            MessageLog.channel,
            MessageLog.direction,
            MessageLog.text,
            MessageLog.created_at,
        )
        .join(Participant, Participant.id == MessageLog.participant_id)
        .where(Participant.study_id.startswith(DEMO_PREFIX), MessageLog.text.is_not(None))
        .order_by(MessageLog.sender_id, MessageLog.created_at, MessageLog.id)
    ).all()
    tracked: set[str] = set()
    if tracker_store_ready(session=session):
        tracked = set(
            session.execute(
                select(tracker_events.c.sender_id)
                .where(tracker_events.c.sender_id.in_({row.sender_id for row in rows}))
                .distinct()
            ).scalars()
        )
    return [
        DemoMessage(row.sender_id, row.channel, row.direction, row.text, _epoch(row.created_at))
        for row in rows
        if row.sender_id not in tracked and row.text.strip()
    ]


def _epoch(moment: datetime) -> float:
    """Seconds since the epoch of a naive-UTC or aware datetime."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return float(moment.timestamp())


def tracker_events_for(messages: list[DemoMessage], parses: dict[str, Any]) -> list[dict[str, Any]]:
    """A tracker's events: a session start, a user event per participant message, and a
    bot event per reply (outreach stays out: the assistant did not say it in reply)."""
    first = messages[0].timestamp
    events: list[dict[str, Any]] = [
        {"event": "action", "name": "action_session_start", "timestamp": first},
        {"event": "session_started", "timestamp": first},
        {"event": "action", "name": "action_listen", "timestamp": first},
    ]
    last_in_chain: float | None = None
    for message in messages:
        if message.direction is Direction.INBOUND:
            events.append(
                {
                    "event": "user",
                    "text": message.text,
                    "parse_data": parses[message.text],
                    "timestamp": message.timestamp,
                    "input_channel": INPUT_CHANNELS.get(message.channel),
                }
            )
            last_in_chain = message.timestamp
        elif last_in_chain is not None and (
            message.timestamp - last_in_chain <= REPLY_WINDOW_SECONDS
        ):
            events.append({"event": "bot", "text": message.text, "timestamp": message.timestamp})
            last_in_chain = message.timestamp
        else:
            last_in_chain = None
    return events


def _valid_parse(parse: dict[str, Any]) -> dict[str, Any]:
    """The parse as Rasa's event schema takes it: rule-based entities have no confidence
    (None), which the schema refuses, so such empty fields are left out."""
    entities = [
        {key: value for key, value in entity.items() if value is not None}
        for entity in parse.get("entities", [])
    ]
    return {**parse, "entities": entities}


async def replay_demo_conversations(*, session: Session, rasa: RasaHttpApi) -> int:
    """Write the missing demo trackers through Rasa's API; how many messages they hold."""
    messages = demo_messages_to_replay(session=session)
    parses: dict[str, Any] = {}
    heard = {message.text for message in messages if message.direction is Direction.INBOUND}
    for text in sorted(heard):
        parses[text] = _valid_parse(await rasa.parse(text))
    written = 0
    for sender_id, group in groupby(messages, key=lambda message: message.sender_id):
        conversation = list(group)
        await rasa.replace_events(sender_id, tracker_events_for(conversation, parses))
        written += sum(message.direction is Direction.INBOUND for message in conversation)
    if written:
        logger.info("demo: %d participant messages read by the model into Rasa's trackers", written)
    return written


def replay_when_ready(settings: Settings) -> list[str]:
    """`trialbot run`, once the servers answer: give the demo's messages the model's
    predictions (once); a line to show, if any."""
    if not (settings.is_sqlite and settings.demo_data):
        return []
    try:
        with session_scope(settings.database_url) as session:
            written = asyncio.run(
                replay_demo_conversations(session=session, rasa=RasaHttpApi.from_settings(settings))
            )
    except (RasaApiError, SQLAlchemyError) as error:
        logger.warning("demo conversations not written to Rasa's tracker store: %s", error)
        return ["Demo conversations: not read by the model this time (see the log above)."]
    if not written:
        return []
    return [f"Demo conversations: {written} participant messages read by the model."]
