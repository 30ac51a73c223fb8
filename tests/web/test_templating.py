"""Times on console pages: in the viewer's time zone, in words (bot/web/console/templating.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.db.models import StaffRole
from bot.web.console.access import ConsoleUser
from bot.web.console.templating import templates, viewer_zone, when_words

NOW = datetime(2026, 3, 10, 20, 30, tzinfo=timezone.utc)  # 15:30 in Chicago (CDT)
CHICAGO = ZoneInfo("America/Chicago")


@pytest.mark.parametrize(
    ("moment", "words"),
    [
        (NOW - timedelta(seconds=20), "just now"),
        (NOW - timedelta(minutes=2, seconds=5), "2 min ago"),
        (NOW + timedelta(minutes=5, seconds=30), "in 5 min"),
        (NOW - timedelta(hours=3), "today 12:30"),
        (NOW - timedelta(hours=20), "yesterday 19:30"),
        (NOW + timedelta(hours=9), "tomorrow 00:30"),
        (NOW - timedelta(days=9), "1 Mar 14:30"),
        (datetime(2025, 12, 31, 23, 0, tzinfo=timezone.utc), "31 Dec 2025 17:00"),
        ("2026-03-10T18:05:00+00:00", "today 13:05"),
        (None, ""),
    ],
)
def test_when_words(moment: datetime | str | None, words: str) -> None:
    assert when_words(moment, CHICAGO, now=NOW) == words


def test_the_day_is_the_viewers_own() -> None:
    late = datetime(2026, 3, 10, 4, 0, tzinfo=timezone.utc)  # 23:00 on the 9th in Chicago
    madrid = ZoneInfo("Europe/Madrid")

    assert when_words(late, CHICAGO, now=NOW) == "yesterday 23:00"
    assert when_words(late, madrid, now=NOW) == "today 05:00"


def _viewer(zone: str | None) -> ConsoleUser:
    return ConsoleUser(
        id=1, username="joy", display_name="Joy", role=StaffRole.STAFF, timezone=zone
    )


def test_the_viewers_zone_is_their_setting_else_the_sites() -> None:
    assert viewer_zone(_viewer("Europe/Madrid")) == ZoneInfo("Europe/Madrid")
    assert viewer_zone(_viewer(None)) == CHICAGO  # the example study's site
    assert viewer_zone(None) == CHICAGO


def test_the_when_filter_gives_the_exact_time_on_hover() -> None:
    template = templates.env.from_string("{{ at | when }}")
    moment = datetime(2020, 12, 31, 23, 0, tzinfo=timezone.utc)

    shown = template.render(at=moment, user=_viewer("Europe/Madrid"))

    assert shown == (
        '<time datetime="2020-12-31T23:00:00+00:00" title="2021-01-01 00:00 CET">'
        "1 Jan 2021 00:00</time>"
    )
