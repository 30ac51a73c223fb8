"""Changing a participant's details in the console, with the reason, audited old and new
(bot/web/console/participant_details.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bot.db.models import Participant, ParticipantStatus, StaffRole
from tests.staff.factories import add_participant, add_user
from tests.web.test_console import audit_events, csrf_of, signed_in

FORM = {
    "status": "withdrawn",
    "language": "es",
    "timezone": "America/New_York",
    "checkin_time": "09:15",
    "reason": "asked by phone to stop",
}


@pytest.fixture
def participant(session: Session) -> Participant:
    add_user(session, "joy", StaffRole.STAFF)
    add_user(session, "rita", StaffRole.RESEARCHER)
    return add_participant(session, "P-001")


def _stored(session: Session, participant: Participant) -> Participant:
    stored = session.get(Participant, participant.id, populate_existing=True)
    assert stored is not None
    return stored


def test_staff_change_details_and_the_audit_keeps_old_new_and_reason(
    client: TestClient, session: Session, participant: Participant
) -> None:
    signed_in(client, "joy")
    page = client.get("/console/participants/P-001/details")
    token = csrf_of(client, "/console/participants/P-001/details")

    reply = client.post("/console/participants/P-001/details", data={"csrf_token": token, **FORM})

    assert page.status_code == 200 and 'value="America/Chicago"' in page.text
    assert reply.status_code == 303
    stored = _stored(session, participant)
    assert stored.status is ParticipantStatus.WITHDRAWN
    assert (stored.language, stored.timezone) == ("es", "America/New_York")
    assert stored.preferred_contact_time == time(9, 15)
    [event] = audit_events(session, "participant.change")
    assert (event.actor, event.participant_id) == ("joy", participant.id)
    assert event.detail == (
        "status: active -> withdrawn; language: en -> es; "
        "timezone: America/Chicago -> America/New_York; checkin_time: none -> 09:15; "
        "reason: asked by phone to stop"
    )
    assert (
        "Changed: status, language, timezone, checkin_time."
        in client.get("/console/participants/P-001/details").text
    )


def test_a_reason_is_required_and_bad_values_change_nothing(
    client: TestClient, session: Session, participant: Participant
) -> None:
    signed_in(client, "joy")
    token = csrf_of(client, "/console/participants/P-001/details")

    no_reason = client.post(
        "/console/participants/P-001/details",
        data={"csrf_token": token, **FORM, "reason": "  "},
    )
    bad_zone = client.post(
        "/console/participants/P-001/details",
        data={"csrf_token": token, **FORM, "timezone": "Mars/Base"},
    )
    missing = client.post("/console/participants/P-404/details", data={"csrf_token": token, **FORM})

    assert no_reason.status_code == 400 and "give the reason for the change" in no_reason.text
    assert bad_zone.status_code == 400 and "is not known" in bad_zone.text
    assert missing.status_code == 404
    assert _stored(session, participant).status is ParticipantStatus.ACTIVE
    assert audit_events(session, "participant.change") == []


def test_researchers_see_the_details_but_cannot_change_them(
    client: TestClient, session: Session, participant: Participant
) -> None:
    signed_in(client, "rita")
    page = client.get("/console/participants/P-001/details")
    token = csrf_of(client, "/console/participants/P-001/details")

    reply = client.post("/console/participants/P-001/details", data={"csrf_token": token, **FORM})

    assert (
        page.status_code == 200
        and '<form method="post" action="/console/participants' not in page.text
    )
    assert reply.status_code == 403
    assert _stored(session, participant).status is ParticipantStatus.ACTIVE
