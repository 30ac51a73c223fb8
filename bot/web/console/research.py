"""Console pages for researchers: engagement figures, plots, and the de-identified export.

- /console/research/figures: the study's figures for a period (a date picker; the whole
  study by default, from its first data to today), with three plots served as PNG by the
  routes below, and a table of participants by study ID;
- /console/research/participants/{study_id}: one participant's figures and symptom plot;
- /console/research/export: the export form (everything by default: both days empty); its
  POST answers with a zip download named after its period.

Everyone may look at the figures; researchers and admins may export; only admins may add
message text (masked), and asking for it without that right is refused (403). Every view
of participant data and every export is audited. Periods are whole UTC days. Test traffic
(web-chat visitors) is left out of the study's figures, plots and export unless asked for
(`include_test`, a checkbox on the forms).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from bot.db.models import Participant
from bot.db.repository import get_participant_by_study_id
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.research import figures, plots
from bot.research.cohort import first_data_day
from bot.research.export import ExportError, export
from bot.research.report import (
    ESCALATIONS_TITLE,
    RESPONSE_RATE_TITLE,
    SYMPTOMS_TITLE,
    number,
    percent,
    readable_duration,
)
from bot.staff import audit
from bot.staff.audit import AuditAction
from bot.staff.permissions import NotAllowed, Permission
from bot.study.config import current_study
from bot.study.pro_ctcae import SEVERITY
from bot.web.console.access import (
    ConsoleError,
    ConsoleUser,
    Forbidden,
    NotFound,
    check_csrf,
    require,
)
from bot.web.console.sessions import CONSOLE_PATH
from bot.web.console.templating import render, templates

logger = logging.getLogger(__name__)

RESEARCH_PATH = CONSOLE_PATH + "/research"
MAX_DAYS = 800
PNG = "image/png"

router = APIRouter(prefix=RESEARCH_PATH)

figures_viewer = Depends(require(Permission.VIEW_FIGURES))
exporter = Depends(require(Permission.EXPORT_DATA))
csrf_checked = Depends(check_csrf)

templates.env.filters["percent"] = percent
templates.env.filters["span"] = readable_duration
templates.env.filters["number"] = number


@dataclass(frozen=True)
class PeriodChoice:
    """The days asked for (for the form) and the period they make."""

    since: date
    until: date
    period: figures.Period
    include_test: bool = False
    whole_study: bool = False

    @property
    def query(self) -> str:
        """The period (and test traffic, if asked for) as a query string, for links and images."""
        query = f"since={self.since.isoformat()}&until={self.until.isoformat()}"
        return query + ("&include_test=true" if self.include_test else "")


def _day(text: str | None, name: str) -> date | None:
    """A YYYY-MM-DD query value, or None when empty; a 400 page when it is not a date."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise ConsoleError(f"The {name} date must look like 2025-03-31.") from error


def _study_start(include_test: bool, last: date) -> date:
    """The first day of the whole study (its first data), or `last` when there is none."""
    with session_scope() as session:
        first = first_data_day(session=session, include_test=include_test)
    return min(first, last) if first else last


def period_choice(
    since: str | None = None, until: str | None = None, include_test: bool = False
) -> PeriodChoice:
    """Dependency: the period of ?since=&until= (both days included; by default the whole
    study, from its first data to today, at most MAX_DAYS days), and ?include_test=true to
    count test traffic (web-chat visitors) too."""
    now = utcnow()
    last = _day(until, "last") or now.date()
    start = _study_start(include_test, last)
    first = _day(since, "first") or max(start, last - timedelta(days=MAX_DAYS))
    if last < first:
        raise ConsoleError("The last day must not be before the first day.")
    if (last - first).days > MAX_DAYS:
        raise ConsoleError(f"Choose a period of at most {MAX_DAYS} days.")
    period = figures.Period.from_dates(first, last, now=now)
    whole = first <= start and last == now.date()
    return PeriodChoice(first, last, period, include_test, whole)


chosen_period = Depends(period_choice)


def _png(content: bytes) -> Response:
    """A PNG response."""
    return Response(content=content, media_type=PNG)


# --- the study --------------------------------------------------------------------------


@router.get("", include_in_schema=False)
@router.get("/", include_in_schema=False)
def research_home() -> RedirectResponse:
    """The research pages start at the figures."""
    return RedirectResponse(f"{RESEARCH_PATH}/figures", status_code=303)


@router.get("/figures")
def figures_page(
    request: Request, choice: PeriodChoice = chosen_period, user: ConsoleUser = figures_viewer
) -> Response:
    """The study's figures for the period, its plots, and the participants' table."""
    study = current_study()
    with session_scope() as session:
        result = figures.study_figures(
            session=session,
            period=choice.period,
            now=utcnow(),
            study=study,
            include_test=choice.include_test,
        )
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.FIGURES_VIEWED,
            detail=f"study figures, {choice.period.label}; "
            f"{len(result.participants)} participants listed by study ID"
            + ("; test traffic included" if choice.include_test else ""),
        )
    context = {
        "f": result,
        "choice": choice,
        "study_name": study.study.name,
        "definitions": figures.DEFINITIONS,
        "figure_notes": plots.FIGURE_NOTES,
        "alts": {
            "response": plots.response_alt(result.weekly_response),
            "escalations": plots.escalations_alt(result.weekly_escalations),
            "symptoms": plots.grades_alt(result.weekly_grades),
        },
    }
    return render(request, "research_figures.html", context, user=user)


@router.get("/figures/response-rate.png")
def response_rate_png(
    choice: PeriodChoice = chosen_period, user: ConsoleUser = figures_viewer
) -> Response:
    """The study's weekly check-in response rate."""
    with session_scope() as session:
        outcomes = figures.prompt_outcomes(
            session=session,
            period=choice.period,
            now=utcnow(),
            include_test=choice.include_test,
        )
    weeks = figures.weekly_response_rates(outcomes, choice.period)
    return _png(
        plots.response_rate_png(
            weeks,
            title=RESPONSE_RATE_TITLE,
            period=choice.period,
            include_test=choice.include_test,
        )
    )


@router.get("/figures/escalations.png")
def escalations_png(
    choice: PeriodChoice = chosen_period, user: ConsoleUser = figures_viewer
) -> Response:
    """Escalations per week by level."""
    with session_scope() as session:
        weeks = figures.weekly_escalations(
            session=session, period=choice.period, include_test=choice.include_test
        )
    return _png(
        plots.escalations_png(
            weeks, title=ESCALATIONS_TITLE, period=choice.period, include_test=choice.include_test
        )
    )


@router.get("/figures/symptoms.png")
def study_symptoms_png(
    choice: PeriodChoice = chosen_period, user: ConsoleUser = figures_viewer
) -> Response:
    """The study's symptom grades per week, as the share of reports at each grade."""
    with session_scope() as session:
        series = figures.weekly_grade_distributions(
            session=session, period=choice.period, include_test=choice.include_test
        )
    return _png(
        plots.grade_distribution_png(
            series, title=SYMPTOMS_TITLE, period=choice.period, include_test=choice.include_test
        )
    )


# --- one participant --------------------------------------------------------------------


def _participant(session: Session, study_id: str) -> Participant:
    """The participant with this study ID, or a 404 page."""
    participant = get_participant_by_study_id(session=session, study_id=study_id)
    if participant is None:
        raise NotFound("There is no participant with that study ID.")
    return participant


@router.get("/participants/{study_id}")
def participant_page(
    request: Request,
    study_id: str,
    choice: PeriodChoice = chosen_period,
    user: ConsoleUser = figures_viewer,
) -> Response:
    """One participant's figures for the period, with their symptom plot."""
    with session_scope() as session:
        participant = _participant(session, study_id)
        result = figures.participant_figures(
            session=session,
            period=choice.period,
            now=utcnow(),
            study=current_study(),
            participant=participant,
        )
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.PARTICIPANT_FIGURES_VIEWED,
            participant_id=participant.id,
            detail=f"participant figures, {choice.period.label}",
        )
    reports = sorted(
        (
            (point.at, symptom, point.grade)
            for symptom, points in result.grades.items()
            for point in points
        ),
        reverse=True,
    )
    context = {
        "f": result,
        "choice": choice,
        "reports": reports,
        "grade_words": SEVERITY.labels,
    }
    return render(request, "research_participant.html", context, user=user)


@router.get("/participants/{study_id}/symptoms.png")
def participant_symptoms_png(
    study_id: str, choice: PeriodChoice = chosen_period, user: ConsoleUser = figures_viewer
) -> Response:
    """A participant's symptom grades over the period, one line per symptom."""
    with session_scope() as session:
        participant = _participant(session, study_id)
        series = figures.symptom_grades(
            session=session, period=choice.period, participant_id=participant.id
        )
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.PARTICIPANT_FIGURES_VIEWED,
            participant_id=participant.id,
            detail=f"symptom plot, {choice.period.label}",
        )
        title = f"{participant.study_id}: symptom grades"
    span = (choice.period.start, choice.period.end)
    return _png(plots.symptom_grades_png(series, title=title, span=span))


# --- export -----------------------------------------------------------------------------


@router.get("/export")
def export_page(request: Request, user: ConsoleUser = exporter) -> Response:
    """The export form: both days empty (everything); message text offered to admins only."""
    with session_scope() as session:
        first = first_data_day(session=session)
    context = {
        "first_day": first,
        "today": utcnow().date(),
        "can_include_text": user.can(Permission.EXPORT_MESSAGE_TEXT),
    }
    return render(request, "research_export.html", context, user=user)


def _refuse_text(request: Request, user: ConsoleUser) -> None:
    """Audit and refuse a request for message text from a role that may not have it."""
    with session_scope() as session:
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.ACCESS_DENIED,
            detail=f"{request.method} {request.url.path} needs "
            f"{Permission.EXPORT_MESSAGE_TEXT.value}",
        )
    raise Forbidden(f"Your role ({user.role.value}) cannot export message text.")


@router.post("/export", dependencies=[csrf_checked])
def export_download(
    request: Request,
    since: str = Form("", max_length=10),
    until: str = Form("", max_length=10),
    include_text: bool = Form(False),
    include_test: bool = Form(False),
    user: ConsoleUser = exporter,
) -> Response:
    """The de-identified export as a zip download (audited)."""
    if include_text and not user.can(Permission.EXPORT_MESSAGE_TEXT):
        _refuse_text(request, user)
    first, last = _day(since, "first"), _day(until, "last")
    buffer = io.BytesIO()
    try:
        with session_scope() as session:
            summary = export(
                session=session,
                out=buffer,
                since=first,
                until=last,
                include_text=include_text,
                actor=user.username,
                include_test=include_test,
            )
    except NotAllowed as error:
        raise Forbidden("Your account cannot export message text.") from error
    except ExportError as error:
        raise ConsoleError(str(error)) from error
    logger.info("staff user %s downloaded export %s", user.id, summary.folder)
    return Response(
        content=buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{summary.folder}.zip"'},
    )
