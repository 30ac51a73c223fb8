"""Builders for staff-console tests: users, participants and escalations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.db.models import (
    Channel,
    Escalation,
    EscalationLevel,
    EscalationStatus,
    EscalationType,
    Participant,
    StaffRole,
    StaffUser,
)
from bot.db.repository import enroll_participant
from bot.db.types import utcnow
from bot.escalation.records import raise_escalation
from bot.staff.audit import SYSTEM_ACTOR
from bot.staff.auth import create_user

PASSWORD = "correct horse battery staple"


def add_user(
    session: Session,
    username: str = "joy",
    role: StaffRole = StaffRole.STAFF,
    *,
    display_name: str | None = None,
    password: str = PASSWORD,
    phone: str | None = None,
    telegram_chat_id: str | None = None,
) -> StaffUser:
    """A console user (committed)."""
    user = create_user(
        session=session,
        actor=SYSTEM_ACTOR,
        username=username,
        display_name=display_name or f"Nurse {username.title()}",
        role=role,
        password=password,
        phone=phone,
        telegram_chat_id=telegram_chat_id,
    )
    session.commit()
    return user


def as_verified(user: StaffUser) -> StaffUser:
    """The user with each alert address they have marked verified, as if they had typed
    the check codes (tests only: the product has no way round the code)."""
    now = utcnow()
    user.phone_verified_at = now if user.phone_hash else None
    user.telegram_chat_verified_at = now if user.telegram_chat_id_hash else None
    return user


def add_participant(
    session: Session, study_id: str = "P-001", channel: Channel = Channel.SMS
) -> Participant:
    """A participant with no address (committed)."""
    participant = enroll_participant(
        session=session, study_id=study_id, channel=channel, timezone="America/Chicago"
    )
    session.commit()
    return participant


def add_escalation(
    session: Session,
    participant: Participant,
    level: EscalationLevel = EscalationLevel.URGENT,
    *,
    created_at: datetime | None = None,
    status: EscalationStatus = EscalationStatus.OPEN,
    acknowledged_by: str | None = None,
    reason: str = "Severe nausea (grade 3)",
    type: EscalationType = EscalationType.SYMPTOM,
    message_log_id: int | None = None,
) -> Escalation:
    """An escalation raised the usual way, then aged or moved on as asked (committed)."""
    escalation = raise_escalation(
        session=session,
        participant_id=participant.id,
        level=level,
        type=type,
        reason=reason,
        message_log_id=message_log_id,
    )
    if created_at is not None:
        escalation.created_at = created_at
    escalation.status = status
    if acknowledged_by is not None:
        escalation.acknowledged_by = acknowledged_by
        escalation.acknowledged_at = escalation.created_at
    session.commit()
    return escalation
