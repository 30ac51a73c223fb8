"""The incentive ledger: earned by the study's rules, written once, marked paid once."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import AppointmentStatus, Channel, IncentiveEntry, LedgerStatus
from bot.db.types import utcnow
from bot.participants.enrollment import enroll
from bot.participants.incentives import accrue, mark_paid, money, set_visit_status
from bot.study.config import load_study_config
from tests.conftest import EXAMPLE_STUDY

STUDY = load_study_config(EXAMPLE_STUDY)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.fernet import Fernet

    from bot.core.settings import get_settings

    monkeypatch.setenv("ENCRYPTION_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()


def _participant(session: Session):
    return enroll(
        session=session,
        study=STUDY,
        study_id="P-100",
        channel=Channel.SMS,
        phone="+15555550142",
        timezone_name="America/Chicago",
        enrolled_on=date(2026, 1, 5),
    ).participant


def _done(session: Session, participant_id: int, *keys: str) -> None:
    from bot.db.models import Appointment

    for appointment in session.execute(
        select(Appointment).where(Appointment.participant_id == participant_id)
    ).scalars():
        if appointment.visit_key in keys:
            set_visit_status(
                session=session, appointment_id=appointment.id, status=AppointmentStatus.DONE
            )


def _ledger(session: Session) -> dict[str, int]:
    rows = session.execute(select(IncentiveEntry)).scalars()
    return {row.reason_key: row.amount_cents for row in rows}


def test_clinic_visits_earn_pay_and_travel_and_phone_calls_do_not(session: Session) -> None:
    participant = _participant(session)
    _done(session, participant.id, "screening", "week_2_call", "week_4")

    accrue(session=session, study=STUDY, participant=participant)

    assert _ledger(session) == {
        "visit:screening": 7500,
        "travel:screening": 2000,
        "visit:week_4": 7500,
        "travel:week_4": 2000,
    }


def test_a_bonus_comes_with_its_visit_and_accruing_again_adds_nothing(session: Session) -> None:
    participant = _participant(session)
    _done(session, participant.id, "week_12")

    first = accrue(session=session, study=STUDY, participant=participant)
    again = accrue(session=session, study=STUDY, participant=participant)

    assert {entry.reason_key for entry in first} == {
        "visit:week_12",
        "travel:week_12",
        "bonus:week_12",
    }
    assert again == []
    assert _ledger(session)["bonus:week_12"] == 5000


def test_a_bonus_by_week_needs_the_weeks_and_an_active_participant(session: Session) -> None:
    study = STUDY.copy(deep=True)
    study.compensation.bonuses = [type(STUDY.compensation.bonuses[0])(amount=10, week=4)]
    participant = _participant(session)

    assert (
        accrue(session=session, study=study, participant=participant, now=participant.enrolled_at)
        == []
    )
    later = participant.enrolled_at + timedelta(weeks=4, minutes=1)
    assert [
        e.reason_key
        for e in accrue(session=session, study=study, participant=participant, now=later)
    ] == ["bonus:week_4"]


def test_an_entry_is_marked_paid_once(session: Session) -> None:
    participant = _participant(session)
    _done(session, participant.id, "baseline")
    [visit, _travel] = accrue(session=session, study=STUDY, participant=participant)

    assert mark_paid(session=session, entry_id=visit.id, actor="nurse.kim") is True
    assert mark_paid(session=session, entry_id=visit.id, actor="someone.else") is False
    session.expire_all()
    paid = session.get(IncentiveEntry, visit.id)
    assert (paid.status, paid.paid_by) == (LedgerStatus.PAID, "nurse.kim")
    assert paid.paid_at is not None and paid.paid_at <= utcnow()


def test_money_reads_plainly() -> None:
    assert money(7500) == "$75"
    assert money(1250) == "$12.50"
    assert money(123456, "€") == "€1,234.56"
