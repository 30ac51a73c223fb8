"""Console page to change a participant's details: status, language, time zone, check-in time.

/console/participants/<study ID>/details shows them; staff who may enroll (care team and
admins) change them there, giving a reason, which is required. Each change is audited in
the same transaction: who, when, each field's old and new value, and the reason.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from bot.core.languages import LANGUAGES, OWN_NAMES
from bot.db.models import Participant, ParticipantStatus
from bot.db.repository import get_participant_by_study_id
from bot.db.session import session_scope
from bot.participants.changes import change_participant
from bot.participants.enrollment import EnrollmentError, parse_clock
from bot.staff import audit
from bot.staff.audit import MAX_REASON_LENGTH, AuditAction
from bot.staff.permissions import Permission
from bot.web.console.access import ConsoleUser, NotFound, check_csrf, flash, require
from bot.web.console.sessions import CONSOLE_PATH
from bot.web.console.templating import render

router = APIRouter(prefix=CONSOLE_PATH + "/participants")

csrf_checked = Depends(check_csrf)
viewer = Depends(require(Permission.VIEW_PARTICIPANTS))
changer = Depends(require(Permission.ENROLL))


def _details(participant: Participant) -> dict[str, str]:
    """The participant's details as the form shows them."""
    clock = participant.preferred_contact_time
    return {
        "status": participant.status.value,
        "language": participant.language,
        "timezone": participant.timezone,
        "checkin_time": f"{clock:%H:%M}" if clock else "",
        "reason": "",
    }


def _page(
    request: Request,
    user: ConsoleUser,
    study_id: str,
    values: dict[str, str],
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "study_id": study_id,
        "values": values,
        "statuses": [status.value for status in ParticipantStatus],
        "languages": [(code, OWN_NAMES[code]) for code in LANGUAGES],
        "error": error,
        "max_reason": MAX_REASON_LENGTH,
    }
    return render(request, "participant_details.html", context, user=user, status_code=status_code)


@router.get("/{study_id}/details")
def details_page(request: Request, study_id: str, user: ConsoleUser = viewer) -> Response:
    """A participant's details (no contact details), with the form to change them."""
    with session_scope() as session:
        participant = get_participant_by_study_id(session=session, study_id=study_id)
        if participant is None:
            raise NotFound("There is no such participant.")
        values = _details(participant)
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.PARTICIPANTS_VIEWED,
            participant_id=participant.id,
            detail="details shown",
        )
    return _page(request, user, study_id, values)


@router.post("/{study_id}/details", dependencies=[csrf_checked])
def details_submit(
    request: Request,
    study_id: str,
    status: str = Form(..., max_length=32),
    language: str = Form(..., max_length=16),
    timezone: str = Form(..., max_length=64),
    checkin_time: str = Form("", max_length=5),
    reason: str = Form("", max_length=MAX_REASON_LENGTH),
    user: ConsoleUser = changer,
) -> Response:
    """Change the details; the reason is required, and old and new values are audited."""
    values = {
        "status": status,
        "language": language,
        "timezone": timezone.strip(),
        "checkin_time": checkin_time.strip(),
        "reason": reason,
    }
    try:
        changed = _change(user, study_id, values)
    except EnrollmentError as error:
        return _page(
            request, user, study_id, values, error=f"Not changed: {error}.", status_code=400
        )
    flash(request, f"Changed: {', '.join(changed)}." if changed else "Nothing was different.")
    return RedirectResponse(f"{CONSOLE_PATH}/participants/{study_id}/details", status_code=303)


def _change(user: ConsoleUser, study_id: str, values: dict[str, str]) -> list[str]:
    """Apply and audit in one transaction; the fields changed. EnrollmentError when a value
    is not valid or the reason is missing."""
    if not values["reason"].strip():
        raise EnrollmentError("give the reason for the change")
    try:
        status = ParticipantStatus(values["status"])
    except ValueError as error:
        raise EnrollmentError("choose a status: active, withdrawn or completed") from error
    clock = parse_clock(values["checkin_time"]) if values["checkin_time"] else None
    with session_scope() as session:
        participant = get_participant_by_study_id(session=session, study_id=study_id)
        if participant is None:
            raise NotFound("There is no such participant.")
        changes = change_participant(
            session=session,
            participant=participant,
            status=status,
            language=values["language"],
            timezone_name=values["timezone"],
            checkin_time=clock,
            clear_checkin_time=clock is None,
        )
        if changes:
            audit.record(
                session=session,
                actor=user.username,
                action=AuditAction.PARTICIPANT_CHANGED,
                participant_id=participant.id,
                old=changes.old,
                new=changes.new,
                reason=values["reason"],
            )
    return list(changes.new)
