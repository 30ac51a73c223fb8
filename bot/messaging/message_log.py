"""The message log as the channels use it: every message in and out, off the event loop."""

from __future__ import annotations

from functools import partial

from bot.db.models import Channel, Direction
from bot.db.repository import log_message
from bot.db.session import in_session_async


async def record_message(
    *,
    sender_id: str,
    channel: Channel,
    direction: Direction,
    text: str,
    participant_id: int | None = None,
    external_id: str | None = None,
    delivery_status: str | None = None,
    language: str | None = None,
) -> int:
    """Write one message to the log without blocking the server; returns its log ID.

    `language`: the language the text is in; None: the participant's (bot.db.repository).
    """
    write = partial(
        log_message,
        sender_id=sender_id,
        channel=channel,
        direction=direction,
        text=text,
        participant_id=participant_id,
        external_id=external_id,
        delivery_status=delivery_status,
        language=language,
    )
    return await in_session_async(lambda session: write(session=session).id)
