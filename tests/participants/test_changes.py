"""Staff changing a participant's details (bot/participants/changes.py)."""

from __future__ import annotations

from datetime import time

import pytest
from sqlalchemy.orm import Session

from bot.db.models import ParticipantStatus
from bot.participants.changes import change_participant
from bot.participants.enrollment import EnrollmentError
from tests.staff.factories import add_participant


def test_only_what_differs_is_changed_and_reported(session: Session) -> None:
    participant = add_participant(session, "P-001")  # America/Chicago, English, no clock

    changes = change_participant(
        session=session,
        participant=participant,
        status=ParticipantStatus.WITHDRAWN,
        language="es",
        timezone_name="America/Chicago",
        checkin_time=time(18, 30),
    )

    assert changes.old == {"status": "active", "language": "en", "checkin_time": None}
    assert changes.new == {"status": "withdrawn", "language": "es", "checkin_time": "18:30"}
    assert participant.status is ParticipantStatus.WITHDRAWN
    assert (participant.language, participant.language_source) == ("es", "enrollment")
    assert participant.preferred_contact_time == time(18, 30)


def test_nothing_changes_when_a_value_is_not_valid(session: Session) -> None:
    participant = add_participant(session, "P-001")

    for bad in ({"timezone_name": "Mars/Base"}, {"language": "fr"}):
        with pytest.raises(EnrollmentError):
            change_participant(
                session=session,
                participant=participant,
                status=ParticipantStatus.COMPLETED,
                **bad,  # type: ignore[arg-type]
            )

    assert participant.status is ParticipantStatus.ACTIVE


def test_the_same_values_change_nothing(session: Session) -> None:
    participant = add_participant(session, "P-001")

    changes = change_participant(
        session=session, participant=participant, status=ParticipantStatus.ACTIVE
    )

    assert not changes
