"""A bare number read back as the choice it picks (options: `bot.clients.numbered_options`).

A number answers the last message the participant got from the assistant: if that one had
no buttons, the number goes to the assistant as typed (the forms read bare numbers
themselves). Messages that were suppressed or failed were never seen, so they do not count.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clients.numbered_options import NUMBER_REPLY, choose
from bot.db.models import Direction, MessageLog

# Outbound messages the participant never saw.
UNSEEN_STATUSES = ("suppressed", "failed", "undelivered")


def latest_buttons(
    *, session: Session, participant_id: int, before_log_id: int | None = None
) -> list[dict[str, str]]:
    """The buttons of the last message the participant got (empty if it had none).

    `before_log_id`: the last one they got before the message with that log ID arrived.
    """
    query = select(MessageLog.buttons).where(
        MessageLog.participant_id == participant_id,
        MessageLog.direction == Direction.OUTBOUND,
        MessageLog.delivery_status.is_(None) | MessageLog.delivery_status.not_in(UNSEEN_STATUSES),
    )
    if before_log_id is not None:
        query = query.where(MessageLog.id < before_log_id)
    buttons = session.execute(
        query.order_by(MessageLog.created_at.desc(), MessageLog.id.desc()).limit(1)
    ).scalar_one_or_none()
    return list(buttons or [])


def resolve_numbered_reply(
    *, session: Session, participant_id: int, text: str, before_log_id: int | None = None
) -> str:
    """The button payload a bare number stands for, else the text unchanged.

    `before_log_id`: the number answers what the participant had got when the message
    with that log ID arrived (it may be handled later, after other replies went out).
    """
    if NUMBER_REPLY.fullmatch(text) is None:
        return text
    buttons = latest_buttons(
        session=session, participant_id=participant_id, before_log_id=before_log_id
    )
    payload = choose(text, buttons)
    return text if payload is None else payload
