"""Database work from actions: run off the event loop, keyed by the conversation."""

from __future__ import annotations

from rasa_sdk import Tracker
from sqlalchemy.orm import Session

from bot.db.models import EscalationLevel, EscalationType
from bot.db.repository import ensure_web_participant
from bot.db.session import in_session_async
from bot.escalation.records import latest_inbound_message_id, raise_escalation


def participant_id(session: Session, tracker: Tracker) -> int:
    """The ID of the participant this conversation belongs to."""
    return ensure_web_participant(session=session, sender_id=tracker.sender_id).id


async def escalate(
    tracker: Tracker, *, level: EscalationLevel, type: EscalationType, reason: str
) -> int:
    """Store an escalation for the message being handled; returns its ID."""
    trigger = tracker.latest_message.get("message_id")

    def work(session: Session) -> int:
        return raise_escalation(
            session=session,
            participant_id=participant_id(session, tracker),
            level=level,
            type=type,
            reason=reason,
            message_log_id=latest_inbound_message_id(session=session, sender_id=tracker.sender_id),
            trigger_message_id=str(trigger) if trigger else None,
        ).id

    return await in_session_async(work)
