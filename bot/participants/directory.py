"""Participants as staff see them: the list, and contact details for those allowed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Channel, Participant
from bot.participants.enrollment import address_of

DEFAULT_LIST_LIMIT = 1000


def list_participants(*, session: Session, limit: int = DEFAULT_LIST_LIMIT) -> list[Participant]:
    """Participants by study ID (web-chat visitors too: their IDs start with WEB-)."""
    return list(
        session.execute(select(Participant).order_by(Participant.study_id).limit(limit)).scalars()
    )


def get_participant(*, session: Session, participant_id: int) -> Participant | None:
    """A participant by ID."""
    return session.get(Participant, participant_id)


def phone_number(participant: Participant) -> str | None:
    """The participant's phone number (SMS participants only), decrypted for a caller."""
    if participant.channel is not Channel.SMS:
        return None
    return address_of(participant)
