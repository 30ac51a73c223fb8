"""The message log as the channels use it: every message in and out, off the event loop."""

from __future__ import annotations

import asyncio

from bot.db.models import Channel, Direction
from bot.db.repository import log_message
from bot.db.session import session_scope


def _record(
    *,
    sender_id: str,
    channel: Channel,
    direction: Direction,
    text: str,
    participant_id: int | None,
    external_id: str | None,
    delivery_status: str | None,
) -> int:
    with session_scope() as session:
        entry = log_message(
            session=session,
            sender_id=sender_id,
            channel=channel,
            direction=direction,
            text=text,
            participant_id=participant_id,
            external_id=external_id,
            delivery_status=delivery_status,
        )
        return entry.id


async def record_message(
    *,
    sender_id: str,
    channel: Channel,
    direction: Direction,
    text: str,
    participant_id: int | None = None,
    external_id: str | None = None,
    delivery_status: str | None = None,
) -> int:
    """Write one message to the log without blocking the server; returns its log ID."""
    return await asyncio.to_thread(
        _record,
        sender_id=sender_id,
        channel=channel,
        direction=direction,
        text=text,
        participant_id=participant_id,
        external_id=external_id,
        delivery_status=delivery_status,
    )
