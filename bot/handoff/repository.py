"""The handoffs table: who is talking with which participant, and the conversation so far."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import Channel, Direction, Handoff, MessageLog, Participant, StaffUser


@dataclass(frozen=True)
class HandoffView:
    """A handoff with the names callers need (plain values: safe outside the session)."""

    handoff_id: int
    participant_id: int
    study_id: str
    sender_id: str
    channel: Channel
    escalation_id: int | None
    staff_user_id: int
    staff_username: str
    staff_name: str
    via: str
    started_at: datetime
    ended_at: datetime | None
    ended_by: str | None

    @property
    def active(self) -> bool:
        """True until someone hands the conversation back."""
        return self.ended_at is None


def _views(session: Session, *conditions: object) -> list[HandoffView]:
    rows = session.execute(
        select(Handoff, Participant, StaffUser)
        .join(Participant, Participant.id == Handoff.participant_id)
        .join(StaffUser, StaffUser.id == Handoff.staff_user_id)
        .where(*conditions)
        .order_by(Handoff.id)
    ).all()
    return [
        HandoffView(
            handoff_id=handoff.id,
            participant_id=participant.id,
            study_id=participant.study_id,
            sender_id=participant.sender_id,
            channel=participant.channel,
            escalation_id=handoff.escalation_id,
            staff_user_id=user.id,
            staff_username=user.username,
            staff_name=user.display_name,
            via=handoff.via,
            started_at=handoff.started_at,
            ended_at=handoff.ended_at,
            ended_by=handoff.ended_by,
        )
        for handoff, participant, user in rows
    ]


def get_handoff(*, session: Session, handoff_id: int) -> HandoffView | None:
    """A handoff by ID, active or not."""
    found = _views(session, Handoff.id == handoff_id)
    return found[0] if found else None


def active_handoff(*, session: Session, participant_id: int) -> HandoffView | None:
    """The participant's active handoff, if a staff member is talking with them."""
    found = _views(session, Handoff.participant_id == participant_id, Handoff.ended_at.is_(None))
    return found[0] if found else None


def in_handoff(*, session: Session, sender_id: str) -> bool:
    """True while a staff member has the conversation of this Rasa sender ID.

    One query on two indexes (the turn guard asks after every turn): the unique
    `participants.sender_id`, and `ux_handoffs_active` (partial: active handoffs only).
    """
    found = session.execute(
        select(Handoff.id)
        .join(Participant, Participant.id == Handoff.participant_id)
        .where(Participant.sender_id == sender_id, Handoff.ended_at.is_(None))
        .limit(1)
    ).first()
    return found is not None


def active_handoffs_of(*, session: Session, staff_user_id: int) -> list[HandoffView]:
    """The conversations a staff member has taken over and not handed back."""
    return _views(session, Handoff.staff_user_id == staff_user_id, Handoff.ended_at.is_(None))


def start_handoff(
    *,
    session: Session,
    participant_id: int,
    staff_user_id: int,
    escalation_id: int | None,
    via: str,
    now: datetime,
) -> int | None:
    """Store a new active handoff; None when the participant already has one."""
    try:
        with session.begin_nested():
            handoff = Handoff(
                participant_id=participant_id,
                staff_user_id=staff_user_id,
                escalation_id=escalation_id,
                via=via,
                started_at=now,
            )
            session.add(handoff)
            session.flush()
    except IntegrityError:
        return None
    return handoff.id


def end_handoff(*, session: Session, handoff_id: int, ended_by: str, now: datetime) -> bool:
    """End an active handoff; False when it had ended already (only one caller wins)."""
    result = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.ended_at.is_(None))
        .values(ended_at=now, ended_by=ended_by)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def forget_handoff(*, session: Session, handoff_id: int) -> None:
    """Remove a handoff that never started (the assistant could not be paused)."""
    handoff = session.get(Handoff, handoff_id)
    if handoff is not None:
        session.delete(handoff)
        session.flush()


def conversation_after(
    *, session: Session, sender_id: str, after_id: int, limit: int = 200
) -> list[MessageLog]:
    """The conversation's messages logged after a message-log ID, oldest first."""
    rows = session.execute(
        select(MessageLog)
        .where(MessageLog.sender_id == sender_id, MessageLog.id > after_id)
        .order_by(MessageLog.id)
        .limit(limit)
    ).scalars()
    return list(rows)


def latest_inbound_at(*, session: Session, participant_id: int) -> datetime | None:
    """When the participant last wrote."""
    return session.execute(
        select(MessageLog.created_at)
        .where(
            MessageLog.participant_id == participant_id,
            MessageLog.direction == Direction.INBOUND,
        )
        .order_by(MessageLog.id.desc())
        .limit(1)
    ).scalar_one_or_none()
