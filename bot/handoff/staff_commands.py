"""What staff can do from Telegram or SMS, and what they are told back.

Shared by the Telegram and SMS staff hooks: acknowledge an alert (button or `ACK <code>`),
take a conversation over (button or `TAKE <code>`), hand it back (`/done` or `DONE`), and
write to the participant. Answers are staff language: study IDs and links, never the
participant's words.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TypeVar

from sqlalchemy.orm import Session

from bot.alerts.texts import escalation_url, handoff_url
from bot.core.settings import SettingsError, get_settings
from bot.db.models import Escalation, EscalationStatus
from bot.db.session import in_session_async, session_scope
from bot.escalation.queue import (
    EscalationNotFound,
    acknowledge,
    escalation_for_ack_code,
    queue_entry,
)
from bot.handoff.repository import HandoffView, active_handoff, active_handoffs_of
from bot.handoff.service import HandoffError, Handoffs
from bot.messaging.delivery import FAILED, SUPPRESSED
from bot.staff.auth import get_user_by_username
from bot.staff.permissions import NotAllowed
from bot.study.config import current_study

logger = logging.getLogger(__name__)

T = TypeVar("T")

ACK_COMMAND = re.compile(r"\s*ACK\s+([A-Za-z0-9]{4,12})\s*", re.IGNORECASE)
TAKE_COMMAND = re.compile(r"\s*TAKE\s+([A-Za-z0-9]{4,12})\s*", re.IGNORECASE)
DONE_COMMAND = re.compile(r"\s*/?done(?:@\w+)?\s*", re.IGNORECASE)
NOT_ALLOWED = "Your account cannot act on alerts."


def staff_sender_id(staff_user_id: int) -> str:
    """The message log's sender ID for a staff member's own texts (never their number)."""
    return f"staff-{staff_user_id}"


def _base_url() -> str:
    return get_settings().web_url


def _acknowledge(session: Session, escalation_id: int, username: str, via: str) -> tuple[bool, str]:
    """Acknowledge; (changed, what to tell the staff member)."""
    outcome = acknowledge(session=session, escalation_id=escalation_id, actor=username, via=via)
    entry = queue_entry(session=session, study=current_study(), escalation_id=escalation_id)
    study_id = entry.study_id if entry else "?"
    name = f"{outcome.escalation.level.value} alert #{escalation_id} ({study_id})"
    if outcome.changed:
        url = escalation_url(_base_url(), escalation_id)
        return True, f"Acknowledged: {name}. Open: {url}"
    if outcome.escalation.status is EscalationStatus.RESOLVED:
        who = entry.resolved_by_name if entry else outcome.escalation.resolved_by
        return False, f"Already resolved by {who}: {name}."
    who = entry.acknowledged_by_name if entry else outcome.escalation.acknowledged_by
    return False, f"Already acknowledged by {who}: {name}."


async def acknowledge_by_id(*, username: str, escalation_id: int, via: str) -> tuple[bool, str]:
    """Acknowledge an escalation by its ID (a Telegram button)."""
    try:
        return await in_session_async(
            lambda session: _acknowledge(session, escalation_id, username, via)
        )
    except EscalationNotFound:
        return False, f"There is no alert #{escalation_id}."
    except NotAllowed:
        return False, NOT_ALLOWED


def _escalation_id_for_code(code: str) -> int | None:
    with session_scope() as session:
        escalation = escalation_for_ack_code(session=session, code=code)
        return escalation.id if escalation else None


async def escalation_for_code(code: str) -> int | None:
    """The escalation an `ACK <code>` or `TAKE <code>` names."""
    return await asyncio.to_thread(_escalation_id_for_code, code)


async def acknowledge_by_code(*, username: str, code: str, via: str) -> str:
    """Acknowledge the escalation with this code; a wrong code acknowledges nothing."""
    escalation_id = await escalation_for_code(code)
    if escalation_id is None:
        logger.info("staff user %s sent an acknowledgement code that matches no alert", username)
        return f"No alert has the code {code.upper()}. Please check it and try again."
    _, answer = await acknowledge_by_id(username=username, escalation_id=escalation_id, via=via)
    return answer


def _help(via: str) -> str:
    done = "/done" if via == "telegram" else "DONE"
    return (
        "Staff commands: ACK <code> acknowledges an alert; TAKE <code> lets you talk with the "
        f"participant yourself; {done} hands the chat back to the assistant."
    )


async def take_over(
    handoffs: Handoffs, *, username: str, escalation_id: int, via: str, in_group: bool = False
) -> str:
    """Take over the conversation of an alert; what to tell the staff member."""
    try:
        result = await handoffs.take_over(escalation_id=escalation_id, actor=username, via=via)
    except NotAllowed:
        return NOT_ALLOWED
    except HandoffError as error:
        return str(error)
    handoff = result.handoff
    done = "/done" if via == "telegram" else "DONE"
    where = "Text me"
    if via == "telegram":
        where = "Reply to the alert" if in_group else "Reply to the alert, or write here,"
    return (
        f"You are now talking with {handoff.study_id}; the assistant is paused. {where} to "
        f"answer them. Their messages: {handoff_url(_base_url(), handoff.handoff_id)} "
        f"Send {done} to hand back to the assistant."
    )


def _own_handoffs(username: str) -> list[HandoffView]:
    with session_scope() as session:
        user = get_user_by_username(session=session, username=username)
        return [] if user is None else active_handoffs_of(session=session, staff_user_id=user.id)


async def own_handoffs(username: str) -> list[HandoffView]:
    """The conversations this staff member has taken over."""
    return await asyncio.to_thread(_own_handoffs, username)


def _handoff_of_escalation(escalation_id: int) -> HandoffView | None:
    with session_scope() as session:
        escalation = session.get(Escalation, escalation_id)
        if escalation is None:
            return None
        return active_handoff(session=session, participant_id=escalation.participant_id)


async def handoff_of_escalation(escalation_id: int) -> HandoffView | None:
    """The active handoff of an escalation's participant, if any."""
    return await asyncio.to_thread(_handoff_of_escalation, escalation_id)


def only_one(handoffs: list[HandoffView], via: str) -> HandoffView | str:
    """The one conversation meant, or what to tell the staff member."""
    if len(handoffs) == 1:
        return handoffs[0]
    if not handoffs:
        return "You are not talking with any participant now. " + _help(via)
    names = ", ".join(handoff.study_id for handoff in handoffs)
    where = "reply to the alert of the one you mean" if via == "telegram" else "use the console"
    return f"You are talking with {names}: {where}."


async def hand_back(
    handoffs: Handoffs, *, username: str, via: str, handoff: HandoffView | None = None
) -> str:
    """Hand back the given conversation, or the staff member's only one."""
    target = handoff or only_one(await own_handoffs(username), via)
    if isinstance(target, str):
        return target
    try:
        await handoffs.hand_back(handoff_id=target.handoff_id, actor=username, via=via)
    except NotAllowed:
        return NOT_ALLOWED
    except HandoffError as error:
        return str(error)
    return f"{target.study_id} is back with the assistant. Thank you."


async def relay(
    handoffs: Handoffs, *, username: str, handoff: HandoffView, text: str, via: str
) -> str | None:
    """Send a staff member's text to the participant; an answer only when it did not go."""
    try:
        outcomes = await handoffs.send(
            handoff_id=handoff.handoff_id, actor=username, text=text, via=via
        )
    except NotAllowed:
        return NOT_ALLOWED
    except HandoffError as error:
        return str(error)
    if any(outcome.status in (FAILED, SUPPRESSED) for outcome in outcomes):
        url = handoff_url(_base_url(), handoff.handoff_id)
        return f"Your message to {handoff.study_id} could not be delivered. See {url}"
    return None


async def relay_to_escalation(
    handoffs: Handoffs, *, username: str, escalation_id: int, text: str, via: str
) -> str | None:
    """A reply to an alert: to its participant, taking the conversation over if nobody has."""
    handoff = await handoff_of_escalation(escalation_id)
    intro = None
    if handoff is None:
        intro = await take_over(handoffs, username=username, escalation_id=escalation_id, via=via)
        handoff = await handoff_of_escalation(escalation_id)
        if handoff is None:
            return intro
    if handoff.staff_username != username:
        return f"{handoff.staff_name} is talking with {handoff.study_id}."
    failed = await relay(handoffs, username=username, handoff=handoff, text=text, via=via)
    return "\n".join(part for part in (intro, failed) if part) or None


def help_text(via: str) -> str:
    """What staff can send."""
    return _help(via)


def not_configured(error: SettingsError) -> str:
    """The answer when the assistant's API is not set up for handoffs."""
    logger.error("handoff: not configured: %s", error)
    return "Taking over is not set up on this server (RASA_API_TOKEN). Use the console."
