"""Reads and writes of the project's tables. Keyword-only, bound parameters only."""

from __future__ import annotations

import secrets
from datetime import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Channel, Direction, MessageLog, Participant, ParticipantStatus


def get_participant_by_sender(*, session: Session, sender_id: str) -> Participant | None:
    """The participant whose conversation this is, if enrolled."""
    return session.execute(
        select(Participant).where(Participant.sender_id == sender_id)
    ).scalar_one_or_none()


def get_participant_by_study_id(*, session: Session, study_id: str) -> Participant | None:
    """The participant with this study ID, if enrolled."""
    return session.execute(
        select(Participant).where(Participant.study_id == study_id)
    ).scalar_one_or_none()


def enroll_participant(
    *,
    session: Session,
    study_id: str,
    channel: Channel,
    channel_address: str | None = None,
    sender_id: str | None = None,
    timezone: str = "UTC",
    preferred_contact_time: time | None = None,
    language: str = "en",
) -> Participant:
    """Create a participant; the conversation ID defaults to the study ID."""
    participant = Participant(
        study_id=study_id,
        sender_id=sender_id or study_id,
        channel=channel,
        channel_address=channel_address,
        timezone=timezone,
        preferred_contact_time=preferred_contact_time,
        language=language,
        status=ParticipantStatus.ACTIVE,
    )
    session.add(participant)
    session.flush()
    return participant


def ensure_web_participant(*, session: Session, sender_id: str) -> Participant:
    """The web-chat visitor's participant record, created on first contact (demo study IDs)."""
    participant = get_participant_by_sender(session=session, sender_id=sender_id)
    if participant is not None:
        return participant
    return enroll_participant(
        session=session,
        study_id=f"WEB-{secrets.token_hex(4).upper()}",
        channel=Channel.WEB,
        sender_id=sender_id,
    )


def log_message(
    *,
    session: Session,
    sender_id: str,
    channel: Channel,
    direction: Direction,
    text: str,
    participant_id: int | None = None,
    external_id: str | None = None,
    delivery_status: str | None = None,
) -> MessageLog:
    """Record one message in or out."""
    entry = MessageLog(
        sender_id=sender_id,
        participant_id=participant_id,
        channel=channel,
        direction=direction,
        text=text,
        external_id=external_id,
        delivery_status=delivery_status,
    )
    session.add(entry)
    session.flush()
    return entry


def recent_messages(*, session: Session, sender_id: str, limit: int = 20) -> list[MessageLog]:
    """The conversation's latest messages, oldest first."""
    rows = session.execute(
        select(MessageLog)
        .where(MessageLog.sender_id == sender_id)
        .order_by(MessageLog.created_at.desc(), MessageLog.id.desc())
        .limit(limit)
    ).scalars()
    return list(reversed(list(rows)))
