"""The incentive pages: visits marked done earn pay, staff mark it paid, researchers only look."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import (
    Appointment,
    AuditEvent,
    Channel,
    IncentiveEntry,
    LedgerStatus,
    Participant,
    StaffRole,
)
from bot.participants.enrollment import enroll
from bot.study.config import current_study
from tests.staff.factories import add_user
from tests.web.test_research import csrf_of, signed_in


@pytest.fixture
def participant(session: Session) -> Participant:
    """P-300 on SMS, with the study's visits planned."""
    enrolled = enroll(
        session=session,
        study=current_study(),
        study_id="P-300",
        channel=Channel.SMS,
        timezone_name="America/Chicago",
        phone="+13125550199",
    ).participant
    add_user(session, "joy", StaffRole.STAFF)
    add_user(session, "rita", StaffRole.RESEARCHER)
    session.commit()
    return enrolled


def _appointment(session: Session, participant: Participant, key: str) -> Appointment:
    return session.execute(
        select(Appointment).where(
            Appointment.participant_id == participant.id, Appointment.visit_key == key
        )
    ).scalar_one()


def _mark(client: TestClient, participant: Participant, appointment_id: int, outcome: str):
    token = csrf_of(client, "/console/ledger/visits/P-300")
    return client.post(
        f"/console/ledger/visits/P-300/{appointment_id}",
        data={"csrf_token": token, "outcome": outcome},
    )


def test_staff_mark_a_visit_done_and_then_pay_it(
    client: TestClient, session: Session, participant: Participant
) -> None:
    signed_in(client, "joy")
    week_12 = _appointment(session, participant, "week_12")

    assert _mark(client, participant, week_12.id, "done").status_code == 303

    session.expire_all()
    entries = {e.reason_key: e for e in session.execute(select(IncentiveEntry)).scalars()}
    assert set(entries) == {"visit:week_12", "travel:week_12", "bonus:week_12"}
    page = client.get("/console/ledger")
    assert "Bonus: Halfway through the study" in page.text and "<strong>$145</strong>" in page.text

    token = csrf_of(client, "/console/ledger")
    paid = client.post(
        f"/console/ledger/{entries['bonus:week_12'].id}/paid", data={"csrf_token": token}
    )
    assert paid.status_code == 303
    session.expire_all()
    bonus = session.get(IncentiveEntry, entries["bonus:week_12"].id)
    assert (bonus.status, bonus.paid_by) == (LedgerStatus.PAID, "joy")
    actions = session.execute(select(AuditEvent.action).where(AuditEvent.actor == "joy")).scalars()
    assert {"visits.record", "ledger.mark_paid", "ledger.view", "visits.view"} <= set(actions)


def test_researchers_look_but_cannot_mark(
    client: TestClient, session: Session, participant: Participant
) -> None:
    signed_in(client, "rita")
    week_4 = _appointment(session, participant, "week_4")

    assert client.get("/console/ledger").status_code == 200
    assert "Mark paid" not in client.get("/console/ledger?show=all").text
    assert _mark(client, participant, week_4.id, "done").status_code == 403
    session.expire_all()
    assert session.execute(select(IncentiveEntry)).first() is None


def test_marking_needs_the_csrf_token_and_a_sign_in(
    client: TestClient, session: Session, participant: Participant
) -> None:
    week_4 = _appointment(session, participant, "week_4")

    anonymous = client.get("/console/ledger")
    assert anonymous.status_code == 303
    signed_in(client, "joy")
    forged = client.post(
        f"/console/ledger/visits/P-300/{week_4.id}", data={"csrf_token": "x", "outcome": "done"}
    )
    assert forged.status_code == 403
