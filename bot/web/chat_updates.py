"""Messages for the web chat page that are not replies: from staff during a handoff.

The web chat is request and response, so a staff member's message (and the "someone is
here" and "I am back" notices) cannot be pushed: bot.handoff.participants logs them as
"queued", and the chat page asks for them every few seconds here. Each is handed out once
and marked delivered. Only web-chat senders are served (their IDs are random and held by
their browser, like the conversation itself), and only while the web chat is on.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import select, update

from bot.db.models import Channel, Direction, MessageLog, StaffUser
from bot.db.session import session_scope
from bot.messaging.delivery import QUEUED
from bot.web.chat_switch import chat_api_off, web_chat_on

router = APIRouter()

DELIVERED = "delivered"
SENDER_PATTERN = r"^web-[A-Za-z0-9_-]{6,64}$"


def take_queued(*, sender_id: str) -> list[dict[str, str]]:
    """The web sender's queued messages, oldest first, now marked delivered."""
    with session_scope() as session:
        rows = session.execute(
            select(MessageLog.id, MessageLog.text, StaffUser.display_name)
            .outerjoin(StaffUser, StaffUser.username == MessageLog.sent_by)
            .where(
                MessageLog.sender_id == sender_id,
                MessageLog.channel == Channel.WEB,
                MessageLog.direction == Direction.OUTBOUND,
                MessageLog.delivery_status == QUEUED,
            )
            .order_by(MessageLog.id)
        ).all()
        if rows:
            session.execute(
                update(MessageLog)
                .where(
                    MessageLog.id.in_([row[0] for row in rows]),
                    MessageLog.delivery_status == QUEUED,
                )
                .values(delivery_status=DELIVERED)
                .execution_options(synchronize_session=False)
            )
    return [{"text": text, "from": name or ""} for _, text, name in rows]


@router.get("/api/chat/updates", response_model=None)
async def chat_updates(
    sender: str = Query(..., regex=SENDER_PATTERN),
) -> dict[str, object] | JSONResponse:
    """Messages waiting for this chat page (staff messages during a handoff)."""
    if not web_chat_on():
        return chat_api_off()
    messages = await run_in_threadpool(lambda: take_queued(sender_id=sender))
    return {"messages": messages}
