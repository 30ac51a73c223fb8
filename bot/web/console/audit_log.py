"""The audit-log viewer for admins: filter by who, what, when and participant; page; export.

- /console/audit?actor=&action=&from=&to=&study_id=&page=: newest first, PAGE_SIZE a
  page; `from` and `to` are days in the viewer's time zone (both included).
- /console/audit/export.csv with the same filters: every matching row, streamed, oldest
  first. The details are staff language already (never participant words or phone
  numbers); cells are guarded against spreadsheet formulas.
Looking and exporting are audited themselves.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.responses import Response

from bot.db.repository import get_participant_by_study_id
from bot.db.session import session_scope
from bot.staff import audit
from bot.staff.audit import AuditAction, AuditFilter, AuditRow
from bot.staff.permissions import Permission
from bot.web.console.access import ConsoleError, ConsoleUser, require
from bot.web.console.sessions import CONSOLE_PATH
from bot.web.console.templating import render, viewer_zone

router = APIRouter(prefix=CONSOLE_PATH + "/audit")

PAGE_SIZE = 100
CSV_COLUMNS = ("id", "at_utc", "actor", "action", "study_id", "escalation_id", "detail")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ACTION_FILTER = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)*")
NO_PARTICIPANT = -1  # a study ID nobody has: the filter matches nothing

auditor = Depends(require(Permission.VIEW_AUDIT_LOG))


class BadFilter(ConsoleError):
    """A filter value the viewer cannot use (shown to the admin)."""

    status_code = 422


def _day(value: str, name: str) -> date | None:
    """A YYYY-MM-DD day from the form, or None when empty."""
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as error:
        raise BadFilter(f"The {name} day must look like 2026-03-01.") from error


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    """The moment the day starts in the zone."""
    return datetime.combine(day, time(0), tzinfo=zone)


def _filters(
    user: ConsoleUser, *, actor: str, action: str, since: str, until: str, study_id: str
) -> AuditFilter:
    """The filter the query string describes (days in the viewer's zone)."""
    zone = viewer_zone(user)
    start, end = _day(since, "from"), _day(until, "to")
    action = action.strip().lower()
    if action and not ACTION_FILTER.fullmatch(action):
        raise BadFilter("The action looks like user.deactivate, or a whole area like user.")
    participant_id = None
    if study_id.strip():
        with session_scope() as session:
            participant = get_participant_by_study_id(session=session, study_id=study_id.strip())
            participant_id = participant.id if participant is not None else NO_PARTICIPANT
    return AuditFilter(
        actor=actor.strip().lower() or None,
        action=action or None,
        since=_start_of(start, zone) if start else None,
        until=_start_of(end + timedelta(days=1), zone) if end else None,
        participant_id=participant_id,
    )


def _described(values: dict[str, str]) -> str:
    """The filters in words, for the audit event of the viewer itself."""
    used = [f"{name}={value}" for name, value in values.items() if value]
    return "filters: " + (", ".join(used) if used else "none")


@router.get("")
def audit_page(
    request: Request,
    actor: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
    study_id: str = "",
    page: int = 1,
    user: ConsoleUser = auditor,
) -> Response:
    """A page of audit events matching the filters, newest first."""
    values = {
        "actor": actor[:128],
        "action": action[:64],
        "since": since[:10],
        "until": until[:10],
        "study_id": study_id[:64],
    }
    filters = _filters(user, **values)
    page = max(page, 1)
    with session_scope() as session:
        total = audit.count_events(session=session, filters=filters)
        rows = audit.find_events(
            session=session, filters=filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        actions = audit.actions_in_use(session=session)
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.AUDIT_VIEWED,
            participant_id=filters.participant_id
            if filters.participant_id != NO_PARTICIPANT
            else None,
            detail=f"{_described(values)}; page {page}, {len(rows)} of {total} shown",
        )
    query = {name: value for name, value in values.items() if value}
    context: dict[str, Any] = {
        "rows": rows,
        "values": values,
        "actions": actions,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "query": urlencode(query),
        "page_link": lambda number: "?" + urlencode({**query, "page": number}),
    }
    return render(request, "audit_log.html", context, user=user)


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv_line(cells: tuple[object, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([_cell(cell) for cell in cells])
    return buffer.getvalue()


def _csv_rows(filters: AuditFilter) -> Iterator[str]:
    """The CSV, line by line: read in batches while it is sent."""
    yield _csv_line(CSV_COLUMNS)
    with session_scope() as session:
        for row in audit.all_events(session=session, filters=filters):
            yield _csv_line(_csv_cells(row))


def _csv_cells(row: AuditRow) -> tuple[object, ...]:
    return (
        row.id,
        row.at.isoformat(timespec="seconds"),
        row.actor,
        row.action,
        row.study_id,
        row.escalation_id,
        row.detail,
    )


@router.get("/export.csv")
def audit_export(
    actor: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
    study_id: str = "",
    user: ConsoleUser = auditor,
) -> StreamingResponse:
    """Every audit event matching the filters as CSV (streamed; the export is audited)."""
    values = {
        "actor": actor[:128],
        "action": action[:64],
        "since": since[:10],
        "until": until[:10],
        "study_id": study_id[:64],
    }
    filters = _filters(user, **values)
    with session_scope() as session:
        total = audit.count_events(session=session, filters=filters)
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.AUDIT_EXPORTED,
            detail=f"{_described(values)}; {total} rows as CSV",
        )
    name = f"audit-log-{datetime.now(viewer_zone(user)):%Y%m%d-%H%M}.csv"
    return StreamingResponse(
        _csv_rows(filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
