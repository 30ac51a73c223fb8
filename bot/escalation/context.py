"""What staff need around one escalation to act on it: the conversation around the message
that raised it, and the participant's other open items and earlier escalations.

An escalation names the message-log entry that raised it (`message_log_id`, set from the
message being handled). An older or hand-made one may not: the conversation is then the
one around the moment it was raised, and the participant's last message before that moment
is marked, as the likely trigger.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.db.models import Direction, EscalationStatus, MessageLog
from bot.db.repository import messages_around
from bot.escalation.queue import QueueEntry, participant_entries
from bot.study.config import StudyConfig

MESSAGES_BEFORE = 8
MESSAGES_AFTER = 8


@dataclass(frozen=True)
class AlertConversation:
    """Messages around the escalation's trigger, oldest first, and which one is the trigger."""

    messages: list[MessageLog]
    # The message that raised the escalation (None: no participant message before it).
    trigger_id: int | None
    # True when the escalation names that message; False when it was found by time.
    exact: bool


@dataclass(frozen=True)
class ParticipantHistory:
    """The participant's other unresolved escalations, and those raised before this one."""

    open_items: list[QueueEntry]
    earlier: list[QueueEntry]


def alert_conversation(
    *,
    session: Session,
    entry: QueueEntry,
    sender_id: str,
    before: int = MESSAGES_BEFORE,
    after: int = MESSAGES_AFTER,
) -> AlertConversation:
    """The conversation around the message that raised the escalation (else its time)."""
    trigger = session.get(MessageLog, entry.message_log_id) if entry.message_log_id else None
    if trigger is not None and trigger.sender_id == sender_id:
        messages = messages_around(
            session=session,
            sender_id=sender_id,
            at=trigger.created_at,
            message_id=trigger.id,
            before=before,
            after=after,
        )
        return AlertConversation(messages=messages, trigger_id=trigger.id, exact=True)
    messages = messages_around(
        session=session, sender_id=sender_id, at=entry.created_at, before=before, after=after
    )
    sent_before = [
        message
        for message in messages
        if message.direction is Direction.INBOUND and message.created_at <= entry.created_at
    ]
    trigger_id = sent_before[-1].id if sent_before else None
    return AlertConversation(messages=messages, trigger_id=trigger_id, exact=False)


def participant_history(
    *, session: Session, study: StudyConfig, entry: QueueEntry
) -> ParticipantHistory:
    """The participant's other open items (most recent first) and earlier escalations."""
    others = [
        item
        for item in participant_entries(
            session=session, study=study, participant_id=entry.participant_id
        )
        if item.escalation_id != entry.escalation_id
    ]
    return ParticipantHistory(
        open_items=[item for item in others if item.status is not EscalationStatus.RESOLVED],
        earlier=[
            item
            for item in others
            if (item.created_at, item.escalation_id) < (entry.created_at, entry.escalation_id)
        ],
    )
