"""Rendering console pages: the templates, their filters, and what every page is given."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from bot.alerts.coverage import alert_coverage_problems
from bot.core.languages import DEFAULT_LANGUAGE, STAFF_NAMES
from bot.core.settings import get_settings
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.study.config import current_study
from bot.web.console.access import ConsoleUser, csrf_token, pop_flash

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

templates = Jinja2Templates(directory=str(TEMPLATES))


def duration(value: timedelta) -> str:
    """A short, readable length of time: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    seconds = max(int(value.total_seconds()), 0)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return f"{seconds} s"
    if minutes < 60:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def language_name(code: str | None) -> str:
    """A language code as staff read it: English, Spanish ("not set" for none)."""
    if not code:
        return "not set"
    return STAFF_NAMES.get(code, code)


def language_badge(code: str | None) -> Markup:
    """A badge marking a message (or participant) in a language other than English: "ES"."""
    if not code or code == DEFAULT_LANGUAGE:
        return Markup("")
    return Markup(
        '<span class="badge language" lang="{code}" title="{name}">{label}</span>'
    ).format(code=escape(code), name=escape(language_name(code)), label=escape(code.upper()))


def site_timezone() -> str:
    """The study site's time zone (the study config), the console's default."""
    return current_study().study.site_timezone


def viewer_zone(user: ConsoleUser | None) -> ZoneInfo:
    """The zone to show this user times in: their own setting, else the study site's."""
    for name in (user.timezone if user else None, site_timezone()):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _as_datetime(value: datetime | str | None) -> datetime | None:
    """A datetime from a datetime or an ISO string (naive ones are UTC)."""
    if value is None or value == "":
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def when_words(value: datetime | str | None, zone: ZoneInfo, now: datetime | None = None) -> str:
    """A moment as people say it, in the zone: "just now", "2 min ago", "in 5 min",
    "today 14:05", "yesterday 09:30", "3 Mar 14:05", "3 Mar 2025 14:05"."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    now = now or utcnow()
    seconds = (now - moment).total_seconds()
    if abs(seconds) < 60:
        return "just now"
    if 0 < seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if 0 < -seconds < 3600:
        return f"in {int(-seconds // 60)} min"
    local, today = moment.astimezone(zone), now.astimezone(zone).date()
    clock = f"{local:%H:%M}"
    days = (today - local.date()).days
    named = {0: "today", 1: "yesterday", -1: "tomorrow"}
    if days in named:
        return f"{named[days]} {clock}"
    if local.year == today.year:
        return f"{local.day} {local:%b} {clock}"
    return f"{local.day} {local:%b %Y} {clock}"


@pass_context
def when(context: Context, value: datetime | str | None) -> Markup:
    """A moment in the viewer's zone, in words, with the exact time on hover (the one
    filter for times on the console's pages)."""
    moment = _as_datetime(value)
    if moment is None:
        return Markup("")
    zone = viewer_zone(context.get("user"))
    exact = moment.astimezone(zone)
    return Markup('<time datetime="{iso}" title="{exact}">{words}</time>').format(
        iso=moment.isoformat(timespec="seconds"),
        exact=f"{exact:%Y-%m-%d %H:%M} {exact.tzname()}",
        words=when_words(moment, zone),
    )


def alert_problems() -> list[str]:
    """Alert levels of the study that reach no staff member (bot.alerts.coverage)."""
    try:
        with session_scope() as session:
            return alert_coverage_problems(
                session=session, study=current_study(), settings=get_settings()
            )
    except SQLAlchemyError:  # the page still renders; the banner says what is unknown
        logger.exception("console: alert recipients could not be checked")
        return ["alert recipients could not be checked (database error: see the web log)"]


templates.env.filters["duration"] = duration
templates.env.filters["when"] = when
templates.env.filters["language_name"] = language_name
templates.env.filters["language_badge"] = language_badge


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    user: ConsoleUser | None = None,
    status_code: int = 200,
) -> Response:
    """A console page, with the user, the session's CSRF token and any one-time message.

    A signed-in user also gets the alert levels that reach nobody (`alert_problems`), which
    the base template shows in a red banner on every page until they are fixed.
    """
    page = {
        "user": user,
        "csrf_token": csrf_token(request),
        "flash": pop_flash(request),
        "alert_problems": alert_problems() if user is not None else [],
        **(context or {}),
    }
    return templates.TemplateResponse(request, f"console/{name}", page, status_code=status_code)


def render_fragment(
    request: Request, name: str, context: dict[str, Any], *, user: ConsoleUser
) -> Response:
    """Part of a console page, for a script to swap in: no banner, and the one-time
    message stays for the next whole page."""
    page = {"user": user, "csrf_token": csrf_token(request), **context}
    return templates.TemplateResponse(request, f"console/{name}", page)
