"""Console pages for incentives: visits done, and the ledger of what is owed and paid.

- /console/ledger: every ledger entry (owed first) with "mark paid";
- /console/ledger/visits/{study_id}: one participant's planned visits, to mark each done,
  missed or cancelled — marking a clinic visit done earns its pay
  (bot/participants/incentives.py), and the outreach worker thanks the participant for a
  milestone bonus.
Staff and admins act (MANAGE_LEDGER); everyone with the console may look. Every view of
participant data and every action is audited.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from starlette.responses import Response

from bot.db.models import Appointment, AppointmentStatus, IncentiveEntry, LedgerStatus, Participant
from bot.db.repository import get_participant_by_study_id
from bot.db.session import session_scope
from bot.participants.incentives import accrue, mark_paid, money, set_visit_status
from bot.staff import audit
from bot.staff.audit import AuditAction
from bot.staff.permissions import Permission
from bot.study.config import current_study
from bot.web.console.access import ConsoleUser, NotFound, check_csrf, flash, require
from bot.web.console.sessions import CONSOLE_PATH
from bot.web.console.templating import render

LEDGER_PATH = CONSOLE_PATH + "/ledger"
router = APIRouter(prefix=LEDGER_PATH)
viewer = Depends(require(Permission.VIEW_PARTICIPANTS))
payer = Depends(require(Permission.MANAGE_LEDGER))
csrf_checked = Depends(check_csrf)
VISIT_OUTCOMES = {status.value: status for status in AppointmentStatus}


@router.get("")
def ledger_page(request: Request, show: str = "owed", user: ConsoleUser = viewer) -> Response:
    """The ledger: owed entries first (or every entry with ?show=all)."""
    with session_scope() as session:
        query = (
            select(IncentiveEntry, Participant.study_id)
            .join(Participant, Participant.id == IncentiveEntry.participant_id)
            .order_by(IncentiveEntry.status, IncentiveEntry.earned_at.desc())
        )
        if show != "all":
            query = query.where(IncentiveEntry.status == LedgerStatus.OWED)
        rows = [
            {
                "id": entry.id,
                "study_id": study_id,
                "description": entry.description,
                "amount": money(entry.amount_cents, entry.currency),
                "earned_at": entry.earned_at,
                "status": entry.status.value,
                "paid_by": entry.paid_by,
                "paid_at": entry.paid_at,
            }
            for entry, study_id in session.execute(query.limit(500)).all()
        ]
        owed_cents = sum(
            session.execute(
                select(IncentiveEntry.amount_cents).where(
                    IncentiveEntry.status == LedgerStatus.OWED
                )
            ).scalars()
        )
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.LEDGER_VIEWED,
            detail=f"{len(rows)} entries shown ({show})",
        )
    currency = current_study().compensation.currency
    context = {"rows": rows, "show": show, "owed": money(owed_cents, currency)}
    return render(request, "ledger.html", context, user=user)


@router.post("/{entry_id}/paid", dependencies=[csrf_checked])
def mark_paid_submit(request: Request, entry_id: int, user: ConsoleUser = payer) -> Response:
    """Mark one entry paid by the signed-in user (only the first mark counts)."""
    with session_scope() as session:
        entry = session.get(IncentiveEntry, entry_id)
        if entry is None:
            raise NotFound("There is no such ledger entry.")
        changed = mark_paid(session=session, entry_id=entry_id, actor=user.username)
        if changed:
            audit.record(
                session=session,
                actor=user.username,
                action=AuditAction.LEDGER_PAID,
                participant_id=entry.participant_id,
                detail=f"ledger entry {entry_id} ({entry.reason_key}) marked paid",
            )
    flash(request, "Marked paid." if changed else "That entry was already paid.")
    return RedirectResponse(LEDGER_PATH, status_code=303)


@router.get("/visits/{study_id}")
def visits_page(request: Request, study_id: str, user: ConsoleUser = viewer) -> Response:
    """A participant's planned visits, their outcome, and what they have earned."""
    study = current_study()
    names = {visit.key: visit for visit in study.visits}
    with session_scope() as session:
        participant = get_participant_by_study_id(session=session, study_id=study_id)
        if participant is None:
            raise NotFound("There is no such participant.")
        appointments = session.execute(
            select(Appointment)
            .where(Appointment.participant_id == participant.id)
            .order_by(Appointment.scheduled_at)
        ).scalars()
        visits = [
            {
                "id": appointment.id,
                "name": names[appointment.visit_key].name
                if appointment.visit_key in names
                else appointment.visit_key,
                "at_home": appointment.visit_key in names and names[appointment.visit_key].at_home,
                "scheduled_at": appointment.scheduled_at,
                "status": appointment.status.value,
            }
            for appointment in appointments
        ]
        entries = session.execute(
            select(IncentiveEntry)
            .where(IncentiveEntry.participant_id == participant.id)
            .order_by(IncentiveEntry.earned_at)
        ).scalars()
        earned = [
            {
                "description": entry.description,
                "amount": money(entry.amount_cents, entry.currency),
                "status": entry.status.value,
            }
            for entry in entries
        ]
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.VISITS_VIEWED,
            participant_id=participant.id,
            detail=f"{len(visits)} visits and {len(earned)} ledger entries shown",
        )
    context = {"study_id": study_id, "visits": visits, "earned": earned}
    return render(request, "ledger_visits.html", context, user=user)


@router.post("/visits/{study_id}/{appointment_id}", dependencies=[csrf_checked])
def visit_outcome_submit(
    request: Request,
    study_id: str,
    appointment_id: int,
    outcome: str = Form(...),
    user: ConsoleUser = payer,
) -> Response:
    """Record a visit as done, missed or cancelled; a done visit earns its pay at once."""
    status = VISIT_OUTCOMES.get(outcome)
    if status is None:
        raise NotFound("That is not a visit outcome.")
    with session_scope() as session:
        participant = get_participant_by_study_id(session=session, study_id=study_id)
        appointment = session.get(Appointment, appointment_id)
        if (
            participant is None
            or appointment is None
            or appointment.participant_id != participant.id
        ):
            raise NotFound("There is no such visit.")
        set_visit_status(session=session, appointment_id=appointment_id, status=status)
        new = accrue(session=session, study=current_study(), participant=participant)
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.VISIT_RECORDED,
            participant_id=participant.id,
            detail=f"visit {appointment.visit_key} marked {status.value}; "
            f"{len(new)} ledger entries earned",
        )
    flash(request, f"Visit marked {status.value}.")
    return RedirectResponse(f"{LEDGER_PATH}/visits/{study_id}", status_code=303)
