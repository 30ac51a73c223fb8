"""The staff console's pages: sign-in, escalation queue and detail, participants.

Every page that shows participant data, and every action, writes an audit event (the
queue's list and JSON, which an open queue page fetches again on each change, are
covered by the page's visit). Route functions are plain `def`s (FastAPI runs them in a
thread pool): the database is synchronous, and each request's work commits before the
response is sent.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from bot.core.languages import DEFAULT_LANGUAGE, LANGUAGES, OWN_NAMES
from bot.db.models import Channel, Participant
from bot.db.repository import latest_checkin
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.escalation.context import AlertConversation, alert_conversation, participant_history
from bot.escalation.queue import (
    EscalationNotFound,
    QueueEntry,
    acknowledge,
    acknowledge_many,
    group_by_participant,
    queue,
    queue_entry,
    resolve,
)
from bot.outreach.local_time import zone_of
from bot.participants.directory import get_participant, list_participants, phone_number
from bot.participants.enrollment import Enrollment, EnrollmentError, enroll, parse_clock
from bot.staff import audit
from bot.staff.audit import AuditAction
from bot.staff.auth import sign_in
from bot.staff.permissions import NotAllowed, Permission
from bot.study.config import current_study
from bot.web.console.access import (
    ConsoleUser,
    Forbidden,
    NotFound,
    check_csrf,
    end_session,
    flash,
    require,
    safe_next,
    signed_in_user,
    start_session,
)
from bot.web.console.handoff import escalation_extras, undelivered_among
from bot.web.console.sessions import CONSOLE_PATH
from bot.web.console.templating import render, render_fragment
from bot.web.throttle import wait_words

logger = logging.getLogger(__name__)

router = APIRouter(prefix=CONSOLE_PATH)

# Without JavaScript the queue page reloads itself (<noscript>); with it, it is live.
QUEUE_REFRESH_SECONDS = 10
ENROLL_CHANNELS = (Channel.SMS, Channel.TELEGRAM)

csrf_checked = Depends(check_csrf)
queue_viewer = Depends(require(Permission.VIEW_QUEUE))
conversation_viewer = Depends(require(Permission.VIEW_CONVERSATION))
escalation_actor = Depends(require(Permission.ACT_ON_ESCALATIONS))
contact_viewer = Depends(require(Permission.VIEW_CONTACT))
participant_viewer = Depends(require(Permission.VIEW_PARTICIPANTS))
enroller = Depends(require(Permission.ENROLL))


def _see_other(path: str) -> RedirectResponse:
    """Redirect after a POST (or to another page) with a GET."""
    return RedirectResponse(path, status_code=303)


def _client_ip(request: Request) -> str:
    """The address the request came from (a trusted proxy's client: bot.web.client_address)."""
    return request.client.host if request.client else "unknown"


# --- signing in and out -----------------------------------------------------------------


@router.get("", include_in_schema=False)
@router.get("/", include_in_schema=False)
def console_home() -> RedirectResponse:
    """The console starts at the queue."""
    return _see_other(f"{CONSOLE_PATH}/queue")


@router.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form (straight to the queue when already signed in)."""
    if signed_in_user(request) is not None:
        return _see_other(safe_next(next))
    return render(request, "sign_in.html", {"next": safe_next(next)})


@router.post("/sign-in", dependencies=[csrf_checked])
def sign_in_submit(
    request: Request,
    username: str = Form(..., max_length=200),
    password: str = Form(..., max_length=2000),
    next: str = Form(""),
) -> Response:
    """Check the password (rate-limited); on success start a fresh session."""
    with session_scope() as session:
        result = sign_in(
            session=session, username=username, password=password, ip=_client_ip(request)
        )
        user = result.user
        if user is not None:
            start_session(request, user)
    if user is not None:
        return _see_other(safe_next(next))
    context = {"next": safe_next(next), "username": username}
    if not result.rate_limited:
        context["error"] = "Wrong username or password."
        return render(request, "sign_in.html", context, status_code=401)
    wait = result.retry_after or timedelta(seconds=1)
    context["error"] = (
        f"Too many failed sign-ins. Wait {wait_words(wait.total_seconds())}, then try again."
    )
    page = render(request, "sign_in.html", context, status_code=429)
    page.headers["Retry-After"] = str(max(1, math.ceil(wait.total_seconds())))
    return page


@router.post("/sign-out", dependencies=[csrf_checked])
def sign_out(request: Request) -> RedirectResponse:
    """End the session."""
    user = signed_in_user(request)
    if user is not None:
        with session_scope() as session:
            audit.record(session=session, actor=user.username, action=AuditAction.SIGN_OUT)
    end_session(request)
    return _see_other(f"{CONSOLE_PATH}/sign-in")


# --- escalations ------------------------------------------------------------------------


def _queue_entries() -> list[QueueEntry]:
    """The unresolved escalations, in queue order."""
    with session_scope() as session:
        return queue(session=session, study=current_study())


def _queue_context() -> dict[str, Any]:
    """What the queue list shows: the entries, grouped, and which alerts went undelivered."""
    entries = _queue_entries()
    with session_scope() as session:
        shown = [entry.escalation_id for entry in entries]
        undelivered = undelivered_among(session=session, escalation_ids=shown)
    return {"entries": entries, "groups": group_by_participant(entries), "undelivered": undelivered}


def _audit_queue_view(user: ConsoleUser, entries: list[QueueEntry]) -> None:
    """One audit event per visit of the queue page (the escalation IDs shown)."""
    shown = ", ".join(str(entry.escalation_id) for entry in entries) or "none"
    with session_scope() as session:
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.QUEUE_VIEWED,
            detail=f"escalations shown: {shown}",
        )


@router.get("/queue")
def queue_page(request: Request, user: ConsoleUser = queue_viewer) -> Response:
    """Open and acknowledged escalations grouped by participant, most severe first, with
    checkboxes to acknowledge several at once; the view is audited once per visit, and
    the list then follows the queue live (bot.web.console.live_queue, static/queue.js)."""
    context = _queue_context()
    _audit_queue_view(user, context["entries"])
    context["refresh_seconds"] = QUEUE_REFRESH_SECONDS
    return render(request, "queue.html", context, user=user)


@router.get("/api/queue/fragment")
def queue_fragment(request: Request, user: ConsoleUser = queue_viewer) -> Response:
    """The queue list alone (HTML), for the open queue page to swap in when the queue
    changes; not audited: the page's visit was."""
    return render_fragment(request, "queue_items.html", _queue_context(), user=user)


@router.get("/api/queue", dependencies=[queue_viewer])
def queue_json() -> JSONResponse:
    """The queue as JSON (for a live view; not audited, like the list the page fetches)."""
    return JSONResponse({"escalations": [_entry_json(entry) for entry in _queue_entries()]})


def _entry_json(entry: QueueEntry) -> dict[str, Any]:
    """A queue entry for the JSON API (no contact details, no participant words)."""
    return {
        "id": entry.escalation_id,
        "study_id": entry.study_id,
        "level": entry.level.value,
        "type": entry.type.value,
        "reason": entry.reason,
        "status": entry.status.value,
        "created_at": entry.created_at.isoformat(),
        "age_seconds": int(entry.age.total_seconds()),
        "target_minutes": int(entry.target.total_seconds() // 60),
        "due_at": entry.due_at.isoformat(),
        "overdue": entry.overdue,
        "repeat_count": entry.repeat_count,
        "acknowledged_by": entry.acknowledged_by_name,
        "acknowledged_at": entry.acknowledged_at.isoformat() if entry.acknowledged_at else None,
        "url": f"{CONSOLE_PATH}/escalations/{entry.escalation_id}",
    }


def _escalation_context(
    session: Session, entry: QueueEntry, participant: Participant, conversation: AlertConversation
) -> dict[str, Any]:
    """What the escalation page shows besides the phone number."""
    return {
        "entry": entry,
        "participant": participant,
        "conversation": conversation,
        "history": participant_history(session=session, study=current_study(), entry=entry),
        "checkin": latest_checkin(session=session, participant_id=participant.id),
        "local_now": utcnow().astimezone(zone_of(participant.timezone)),
        **escalation_extras(
            session=session, escalation_id=entry.escalation_id, participant_id=participant.id
        ),
    }


def _escalation_view(
    request: Request, user: ConsoleUser, escalation_id: int, *, show_phone: bool = False
) -> Response:
    """The escalation page (audited); with the phone number only when asked to show it."""
    with session_scope() as session:
        entry = queue_entry(session=session, study=current_study(), escalation_id=escalation_id)
        participant = (
            get_participant(session=session, participant_id=entry.participant_id) if entry else None
        )
        if entry is None or participant is None:
            raise NotFound("There is no such escalation.")
        conversation = alert_conversation(
            session=session, entry=entry, sender_id=participant.sender_id
        )
        seen = {"participant_id": participant.id, "escalation_id": entry.escalation_id}
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.ESCALATION_VIEWED,
            detail=f"{len(conversation.messages)} messages around the alert shown",
            **seen,
        )
        phone = phone_number(participant) if show_phone else None
        if show_phone:
            audit.record(
                session=session,
                actor=user.username,
                action=AuditAction.PHONE_REVEALED,
                detail="phone number shown" if phone else "no phone number on file",
                **seen,
            )
        context = _escalation_context(session, entry, participant, conversation)
    context.update(phone=phone, phone_asked=show_phone)
    return render(request, "escalation.html", context, user=user)


@router.get("/escalations/{escalation_id}")
def escalation_page(
    request: Request, escalation_id: int, user: ConsoleUser = conversation_viewer
) -> Response:
    """One escalation with what staff need to act: the conversation around the message that
    raised it, the participant's context and open items, and how to reach them (the phone
    number stays hidden until asked for)."""
    return _escalation_view(request, user, escalation_id)


@router.post("/escalations/{escalation_id}/phone", dependencies=[csrf_checked])
def show_phone_submit(
    request: Request, escalation_id: int, user: ConsoleUser = contact_viewer
) -> Response:
    """The escalation page with the participant's phone number shown (audited)."""
    return _escalation_view(request, user, escalation_id, show_phone=True)


@router.post("/escalations/{escalation_id}/acknowledge", dependencies=[csrf_checked])
def acknowledge_submit(
    request: Request, escalation_id: int, user: ConsoleUser = escalation_actor
) -> RedirectResponse:
    """Acknowledge the escalation as the signed-in user (only the first one counts)."""
    try:
        with session_scope() as session:
            outcome = acknowledge(session=session, escalation_id=escalation_id, actor=user.username)
            by = outcome.escalation.acknowledged_by
    except EscalationNotFound as error:
        raise NotFound("There is no such escalation.") from error
    except NotAllowed as error:
        raise Forbidden("Your account cannot acknowledge escalations.") from error
    flash(request, "Acknowledged." if outcome.changed else f"Already acknowledged by {by}.")
    return _see_other(f"{CONSOLE_PATH}/escalations/{escalation_id}")


@router.post("/escalations/acknowledge", dependencies=[csrf_checked])
def acknowledge_selected_submit(
    request: Request,
    ids: Annotated[list[int] | None, Form()] = None,
    user: ConsoleUser = escalation_actor,
) -> RedirectResponse:
    """Acknowledge the escalations ticked on the queue (one audit event each)."""
    if not ids:
        flash(request, "Nothing selected: tick the items to acknowledge.")
        return _see_other(f"{CONSOLE_PATH}/queue")
    try:
        with session_scope() as session:
            outcomes = acknowledge_many(session=session, ids=ids, actor=user.username)
            already = [o.escalation.id for o in outcomes if not o.changed]
    except NotAllowed as error:
        raise Forbidden("Your account cannot acknowledge escalations.") from error
    changed = len(outcomes) - len(already)
    note = f" ({len(already)} were already acknowledged or resolved)" if already else ""
    flash(request, f"Acknowledged {changed} item{'s' if changed != 1 else ''}{note}.")
    return _see_other(f"{CONSOLE_PATH}/queue")


@router.post("/escalations/{escalation_id}/resolve", dependencies=[csrf_checked])
def resolve_submit(
    request: Request,
    escalation_id: int,
    note: str = Form("", max_length=4000),
    user: ConsoleUser = escalation_actor,
) -> RedirectResponse:
    """Resolve the escalation with a note."""
    try:
        with session_scope() as session:
            outcome = resolve(
                session=session, escalation_id=escalation_id, actor=user.username, note=note
            )
    except EscalationNotFound as error:
        raise NotFound("There is no such escalation.") from error
    except NotAllowed as error:
        raise Forbidden("Your account cannot resolve escalations.") from error
    except ValueError as error:
        flash(request, f"Not resolved: {error}.")
    else:
        flash(request, "Resolved." if outcome.changed else "It was already resolved.")
    return _see_other(f"{CONSOLE_PATH}/escalations/{escalation_id}")


# --- participants -----------------------------------------------------------------------


@router.get("/participants")
def participants_page(request: Request, user: ConsoleUser = participant_viewer) -> Response:
    """Every participant: study ID, channel, status, time zone, at-risk flag (no contacts)."""
    with session_scope() as session:
        participants = list_participants(session=session)
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.PARTICIPANTS_VIEWED,
            detail=f"{len(participants)} participants listed",
        )
    return render(request, "participants.html", {"participants": participants}, user=user)


def _enroll_form(
    request: Request,
    user: ConsoleUser,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The enrollment form, filled in again after an error."""
    context = {
        "values": values or {"channel": "sms", "timezone": "", "language": DEFAULT_LANGUAGE},
        "channels": [channel.value for channel in ENROLL_CHANNELS],
        "languages": [(code, OWN_NAMES[code]) for code in LANGUAGES],
        "error": error,
    }
    return render(request, "enroll.html", context, user=user, status_code=status_code)


@router.get("/participants/new")
def enroll_page(request: Request, user: ConsoleUser = enroller) -> Response:
    """The enrollment form."""
    return _enroll_form(request, user)


@router.post("/participants/new", dependencies=[csrf_checked])
def enroll_submit(
    request: Request,
    study_id: str = Form(..., max_length=64),
    channel: str = Form(...),
    timezone: str = Form(..., max_length=64),
    phone: str = Form("", max_length=32),
    checkin_time: str = Form("", max_length=5),
    language: str = Form(DEFAULT_LANGUAGE, max_length=16),
    user: ConsoleUser = enroller,
) -> Response:
    """Enroll a participant (bot.participants.enrollment); a Telegram code is shown this once."""
    values = {
        "study_id": study_id.strip(),
        "channel": channel,
        "timezone": timezone.strip(),
        "phone": phone.strip(),
        "checkin_time": checkin_time.strip(),
        "language": language.strip(),
    }
    try:
        result = _enroll(user, values)
    except EnrollmentError as error:
        return _enroll_form(request, user, values=values, error=str(error), status_code=400)
    context = {"participant": result.participant, "code": result.enrollment_code}
    return render(request, "enrolled.html", context, user=user, status_code=201)


def _enroll(user: ConsoleUser, values: dict[str, str]) -> Enrollment:
    """Enroll and audit in one transaction; EnrollmentError when a value is not valid."""
    if values["channel"] not in {channel.value for channel in ENROLL_CHANNELS}:
        raise EnrollmentError("choose SMS or Telegram")
    if values["language"] not in LANGUAGES:
        raise EnrollmentError("choose the language: English or Español")
    checkin_time = parse_clock(values["checkin_time"]) if values["checkin_time"] else None
    with session_scope() as session:
        result = enroll(
            session=session,
            study=current_study(),
            study_id=values["study_id"],
            channel=Channel(values["channel"]),
            timezone_name=values["timezone"],
            phone=values["phone"] or None,
            checkin_time=checkin_time,
            language=values["language"],
        )
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.PARTICIPANT_ENROLLED,
            participant_id=result.participant.id,
            detail=f"enrolled on {values['channel']}, language {values['language']}",
        )
    logger.info("participant %s enrolled by staff user %s", result.participant.id, user.id)
    return result
