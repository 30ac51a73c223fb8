"""Console pages for alerts and handoffs: deliveries, take over, the live chat, hand back.

- The escalation page shows each alert delivery (round, channel, who was paged, status,
  attempts; undelivered ones stand out; a round that reached nobody says "nobody to
  page") and a "Take over the chat" button, or who has
  the chat and a "Hand back" button (`escalation_extras`, called by that page's route).
- `POST /console/escalations/<id>/take-over` pauses the assistant for the participant and
  opens the live chat, `/console/handoffs/<id>`, which polls
  `/console/api/handoffs/<id>/messages` every few seconds; what the staff member types
  goes to the participant on their own channel (`POST /console/api/handoffs/<id>/messages`,
  or the plain form without JavaScript); "Hand back" resumes the assistant.

Views of the conversation and every action are audited.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from bot.alerts.planning import QUEUE_RECIPIENT, ROUND_NAMES
from bot.alerts.repository import deliveries_for, undelivered_escalation_ids, unpaged_rounds
from bot.core.settings import SettingsError
from bot.db.models import AlertStatus, Direction, MessageLog, StaffUser
from bot.db.repository import participant_language
from bot.db.session import session_scope
from bot.handoff.repository import (
    HandoffView,
    active_handoff,
    conversation_after,
    get_handoff,
)
from bot.handoff.service import MAX_STAFF_MESSAGE_CHARACTERS, HandoffError, open_handoffs
from bot.staff import audit
from bot.staff.permissions import NotAllowed, Permission
from bot.web.console.access import ConsoleUser, Forbidden, NotFound, check_csrf, flash, require
from bot.web.console.sessions import CONSOLE_PATH
from bot.web.console.templating import render, viewer_zone, when_words

logger = logging.getLogger(__name__)

router = APIRouter(prefix=CONSOLE_PATH)

VIA = "console"
POLL_SECONDS = 3
SHOWN_MESSAGES = 50
HANDOFF_VIEWED = "handoff.view"
NOT_SET_UP = "Taking over is not set up on this server (RASA_API_TOKEN)."

csrf_checked = Depends(check_csrf)
conversation_viewer = Depends(require(Permission.VIEW_CONVERSATION))
escalation_actor = Depends(require(Permission.ACT_ON_ESCALATIONS))


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _escalation_path(escalation_id: int | None) -> str:
    return f"{CONSOLE_PATH}/escalations/{escalation_id}" if escalation_id else CONSOLE_PATH


# --- the escalation page's extras -------------------------------------------------------


def escalation_extras(
    *, session: Session, escalation_id: int, participant_id: int
) -> dict[str, Any]:
    """What the escalation page shows about alert deliveries and the handoff."""
    deliveries = deliveries_for(session=session, escalation_id=escalation_id)
    return {
        "deliveries": deliveries,
        "unpaged_rounds": unpaged_rounds(deliveries),
        "queue_recipient": QUEUE_RECIPIENT,
        "round_names": ROUND_NAMES,
        "undelivered": any(row.status is AlertStatus.UNDELIVERED for row in deliveries),
        "handoff": active_handoff(session=session, participant_id=participant_id),
    }


def undelivered_among(*, session: Session, escalation_ids: list[int]) -> set[int]:
    """The escalations of the queue with an alert that could not be delivered."""
    return undelivered_escalation_ids(session=session, escalation_ids=escalation_ids)


# --- take over and hand back ------------------------------------------------------------


@router.post("/escalations/{escalation_id}/take-over", dependencies=[csrf_checked])
async def take_over_submit(
    request: Request, escalation_id: int, user: ConsoleUser = escalation_actor
) -> RedirectResponse:
    """Take the participant's conversation over and open the live chat."""
    try:
        async with open_handoffs() as handoffs:
            result = await handoffs.take_over(
                escalation_id=escalation_id, actor=user.username, via=VIA
            )
    except NotAllowed as error:
        raise Forbidden("Your account cannot take over conversations.") from error
    except (HandoffError, SettingsError) as error:
        message = NOT_SET_UP if isinstance(error, SettingsError) else str(error)
        flash(request, f"Not taken over: {message}")
        return _see_other(_escalation_path(escalation_id))
    flash(
        request,
        "You have the conversation: the assistant is paused."
        if result.started
        else "You already have this conversation.",
    )
    return _see_other(f"{CONSOLE_PATH}/handoffs/{result.handoff.handoff_id}")


@router.post("/handoffs/{handoff_id}/hand-back", dependencies=[csrf_checked])
async def hand_back_submit(
    request: Request, handoff_id: int, user: ConsoleUser = escalation_actor
) -> RedirectResponse:
    """Give the conversation back to the assistant."""
    try:
        async with open_handoffs() as handoffs:
            handoff = await handoffs.hand_back(handoff_id=handoff_id, actor=user.username, via=VIA)
    except NotAllowed as error:
        raise Forbidden("Your account cannot hand conversations back.") from error
    except (HandoffError, SettingsError) as error:
        message = NOT_SET_UP if isinstance(error, SettingsError) else str(error)
        flash(request, f"Not handed back: {message}")
        return _see_other(f"{CONSOLE_PATH}/handoffs/{handoff_id}")
    flash(request, f"Handed back: the assistant answers {handoff.study_id} again.")
    return _see_other(_escalation_path(handoff.escalation_id))


# --- the live chat ----------------------------------------------------------------------


def _messages_json(
    session: Session, rows: list[MessageLog], zone: ZoneInfo
) -> list[dict[str, Any]]:
    """Messages for the live chat: who, what, when (also in words, in the viewer's zone),
    and how delivery went."""
    usernames = {row.sent_by for row in rows if row.sent_by}
    names = dict(
        session.execute(
            select(StaffUser.username, StaffUser.display_name).where(
                StaffUser.username.in_(list(usernames))
            )
        ).all()
        if usernames
        else []
    )
    return [
        {
            "id": row.id,
            "direction": row.direction.value,
            "who": "Participant"
            if row.direction is Direction.INBOUND
            else names.get(row.sent_by or "", row.sent_by) or "Assistant",
            "text": row.text,
            "at": row.created_at.isoformat(timespec="seconds"),
            "when": when_words(row.created_at, zone),
            "status": row.delivery_status or "",
            "language": row.language,
        }
        for row in rows
    ]


def _load(session: Session, handoff_id: int) -> HandoffView:
    handoff = get_handoff(session=session, handoff_id=handoff_id)
    if handoff is None:
        raise NotFound("There is no such handoff.")
    return handoff


def _recent(session: Session, handoff: HandoffView) -> list[MessageLog]:
    rows = session.execute(
        select(MessageLog)
        .where(MessageLog.sender_id == handoff.sender_id)
        .order_by(MessageLog.id.desc())
        .limit(SHOWN_MESSAGES)
    ).scalars()
    return list(reversed(list(rows)))


@router.get("/handoffs/{handoff_id}")
def handoff_page(
    request: Request, handoff_id: int, user: ConsoleUser = conversation_viewer
) -> Response:
    """The live chat with the participant (polls for new messages)."""
    with session_scope() as session:
        handoff = _load(session, handoff_id)
        messages = _messages_json(session, _recent(session, handoff), viewer_zone(user))
        language = participant_language(session=session, participant_id=handoff.participant_id)
        audit.record(
            session=session,
            actor=user.username,
            action=HANDOFF_VIEWED,
            participant_id=handoff.participant_id,
            escalation_id=handoff.escalation_id,
            detail=f"handoff {handoff_id}: {len(messages)} messages shown",
        )
    context = {
        "handoff": handoff,
        "language": language,
        "messages": messages,
        "last_id": messages[-1]["id"] if messages else 0,
        "poll_seconds": POLL_SECONDS,
        "max_characters": MAX_STAFF_MESSAGE_CHARACTERS,
        "can_write": handoff.active and handoff.staff_username == user.username,
        "can_hand_back": handoff.active and user.can(Permission.ACT_ON_ESCALATIONS),
    }
    return render(request, "handoff.html", context, user=user)


@router.get("/api/handoffs/{handoff_id}/messages")
def handoff_messages(
    handoff_id: int, after: int = 0, user: ConsoleUser = conversation_viewer
) -> JSONResponse:
    """Messages logged after `after`, and whether the handoff is still on (for the poll)."""
    with session_scope() as session:
        handoff = _load(session, handoff_id)
        rows = conversation_after(session=session, sender_id=handoff.sender_id, after_id=after)
        messages = _messages_json(session, rows, viewer_zone(user))
        new_from_participant = sum(1 for row in rows if row.direction is Direction.INBOUND)
        if new_from_participant:
            audit.record(
                session=session,
                actor=user.username,
                action=HANDOFF_VIEWED,
                participant_id=handoff.participant_id,
                escalation_id=handoff.escalation_id,
                detail=f"handoff {handoff_id}: {new_from_participant} new messages shown",
            )
    return JSONResponse(
        {
            "active": handoff.active,
            "holder": handoff.staff_name,
            "ended_by": handoff.ended_by,
            "messages": messages,
        }
    )


async def _send(handoff_id: int, user: ConsoleUser, text: str) -> list[str]:
    """Send a console message; the delivery status of each part (HandoffError, NotAllowed)."""
    async with open_handoffs() as handoffs:
        outcomes = await handoffs.send(
            handoff_id=handoff_id, actor=user.username, text=text, via=VIA
        )
    return [outcome.status for outcome in outcomes]


@router.post("/api/handoffs/{handoff_id}/messages", dependencies=[csrf_checked])
async def handoff_send(
    request: Request, handoff_id: int, user: ConsoleUser = escalation_actor
) -> JSONResponse:
    """Send what the staff member typed to the participant (JSON: {"text": ...})."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str):
        return JSONResponse({"error": 'send {"text": ...}'}, status_code=400)
    try:
        statuses = await _send(handoff_id, user, text)
    except NotAllowed:
        return JSONResponse(
            {"error": "Your account cannot write to participants."}, status_code=403
        )
    except (HandoffError, SettingsError) as error:
        message = NOT_SET_UP if isinstance(error, SettingsError) else str(error)
        return JSONResponse({"error": message}, status_code=409)
    return JSONResponse({"statuses": statuses})


@router.post("/handoffs/{handoff_id}/messages", dependencies=[csrf_checked])
async def handoff_send_form(
    request: Request,
    handoff_id: int,
    text: str = Form("", max_length=4000),
    user: ConsoleUser = escalation_actor,
) -> RedirectResponse:
    """The same, from the plain form (without JavaScript)."""
    try:
        statuses = await _send(handoff_id, user, text)
    except NotAllowed as error:
        raise Forbidden("Your account cannot write to participants.") from error
    except (HandoffError, SettingsError) as error:
        flash(request, NOT_SET_UP if isinstance(error, SettingsError) else str(error))
    else:
        flash(request, f"Sent ({', '.join(statuses)}).")
    return _see_other(f"{CONSOLE_PATH}/handoffs/{handoff_id}")
