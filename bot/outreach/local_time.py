"""Participants' local time: wall-clock times to UTC, quiet hours, and dates in words.

Times are stored in UTC; this module is the edge where a participant's zone is applied.
A local time that does not exist (the spring-forward gap) or happens twice (fall back) is
resolved the way Python's zoneinfo does with ``fold=0``, which is deterministic:

- in the gap, the time is read with the offset in force before the change, so it lands
  later by the length of the gap (02:30 on 2026-03-08 in America/Chicago is 03:30 CDT);
- when it happens twice, the first occurrence is used (01:30 on 2026-11-01 in
  America/Chicago is 01:30 CDT, not the hour after it in CST).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot.core.languages import ENGLISH, SPANISH
from bot.study.config import QuietHours


def zone_of(name: str) -> ZoneInfo:
    """The participant's time zone (UTC when the name is not a known zone)."""
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def at_local(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The UTC moment of a wall-clock time on a local date (gap and fold as described above)."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(timezone.utc)


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """The participant's calendar date at a moment."""
    return moment.astimezone(zone).date()


def has_quiet_hours(quiet: QuietHours) -> bool:
    """False when start equals end: the study has no quiet hours."""
    return quiet.start != quiet.end


def in_quiet_hours(moment: datetime, zone: ZoneInfo, quiet: QuietHours) -> bool:
    """True when the participant's wall clock reads inside [start, end) of the quiet hours."""
    if not has_quiet_hours(quiet):
        return False
    clock = moment.astimezone(zone).time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        return quiet.start <= clock < quiet.end
    return clock >= quiet.start or clock < quiet.end


def quiet_hours_end(moment: datetime, zone: ZoneInfo, quiet: QuietHours) -> datetime:
    """When the quiet hours that contain `moment` end (UTC)."""
    local = moment.astimezone(zone)
    day = local.date()
    overnight = quiet.start > quiet.end
    if overnight and local.time().replace(tzinfo=None) >= quiet.start:
        day += timedelta(days=1)
    return at_local(day, quiet.end, zone)


def quiet_hours_start(moment: datetime, zone: ZoneInfo, quiet: QuietHours) -> datetime:
    """When the quiet hours that contain `moment` started (UTC)."""
    local = moment.astimezone(zone)
    day = local.date()
    overnight = quiet.start > quiet.end
    if overnight and local.time().replace(tzinfo=None) < quiet.end:
        day -= timedelta(days=1)
    return at_local(day, quiet.start, zone)


def spoken_when(moment: datetime, zone: ZoneInfo, *, language: str = ENGLISH) -> str:
    """A visit time as people say it (local): "Tuesday, March 3 at 9:30 AM", or in Spanish
    "martes 3 de marzo a las 9:30 a. m." (Babel's locale data, offline)."""
    local = moment.astimezone(zone)
    if language == SPANISH:
        return format_datetime(local, "EEEE d 'de' MMMM 'a las' h:mm a", locale="es")
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    return f"{local:%A, %B} {local.day} at {hour}:{local.minute:02d} {half}"
