"""Local wall-clock times to UTC (DST gap and fold), quiet hours, and visit times in words."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

import pytest

from bot.outreach.local_time import (
    at_local,
    in_quiet_hours,
    quiet_hours_end,
    quiet_hours_start,
    spoken_when,
    zone_of,
)
from bot.study.config import QuietHours
from tests.outreach.conftest import BERLIN, CHICAGO, local

UTC = timezone.utc
OVERNIGHT = QuietHours(start=time(21, 0), end=time(8, 0))


@pytest.mark.parametrize(
    ("day", "clock", "zone", "expected_utc"),
    [
        # 18:00 stays 18:00 on the wall clock: CST (-6) before, CDT (-5) after.
        (date(2026, 3, 7), time(18), CHICAGO, datetime(2026, 3, 8, 0, 0, tzinfo=UTC)),
        (date(2026, 3, 8), time(18), CHICAGO, datetime(2026, 3, 8, 23, 0, tzinfo=UTC)),
        (date(2026, 10, 31), time(18), CHICAGO, datetime(2026, 10, 31, 23, 0, tzinfo=UTC)),
        (date(2026, 11, 1), time(18), CHICAGO, datetime(2026, 11, 2, 0, 0, tzinfo=UTC)),
        # Spring-forward gap: 02:30 does not exist; read with the offset before, = 03:30 CDT.
        (date(2026, 3, 8), time(2, 30), CHICAGO, datetime(2026, 3, 8, 8, 30, tzinfo=UTC)),
        # Fall-back: 01:30 happens twice; the first (CDT) is used.
        (date(2026, 11, 1), time(1, 30), CHICAGO, datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
        # Europe/Berlin: CET (+1) and CEST (+2); gap 02:00-03:00 on 29 March, fold on 25 Oct.
        (date(2026, 3, 28), time(18), BERLIN, datetime(2026, 3, 28, 17, 0, tzinfo=UTC)),
        (date(2026, 3, 29), time(18), BERLIN, datetime(2026, 3, 29, 16, 0, tzinfo=UTC)),
        (date(2026, 3, 29), time(2, 30), BERLIN, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        (date(2026, 10, 25), time(2, 30), BERLIN, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        (date(2026, 10, 25), time(18), BERLIN, datetime(2026, 10, 25, 17, 0, tzinfo=UTC)),
    ],
)
def test_wall_clock_time_to_utc(day: date, clock: time, zone, expected_utc: datetime) -> None:
    assert at_local(day, clock, zone) == expected_utc


def test_the_gap_lands_at_the_same_moment_every_time() -> None:
    moments = {at_local(date(2026, 3, 8), time(2, 30), CHICAGO) for _ in range(3)}
    assert len(moments) == 1
    assert moments.pop().astimezone(CHICAGO).strftime("%H:%M %Z") == "03:30 CDT"


@pytest.mark.parametrize(
    ("moment", "quiet"),
    [
        (local(2026, 3, 2, 21, 0), True),
        (local(2026, 3, 2, 23, 59), True),
        (local(2026, 3, 3, 0, 30), True),
        (local(2026, 3, 3, 7, 59), True),
        (local(2026, 3, 3, 8, 0), False),
        (local(2026, 3, 2, 20, 59), False),
        (local(2026, 3, 2, 12, 0), False),
    ],
)
def test_overnight_quiet_hours(moment: datetime, quiet: bool) -> None:
    assert in_quiet_hours(moment, CHICAGO, OVERNIGHT) is quiet


def test_daytime_quiet_hours() -> None:
    quiet = QuietHours(start=time(13, 0), end=time(15, 0))
    assert in_quiet_hours(local(2026, 3, 2, 14, 0), CHICAGO, quiet)
    assert not in_quiet_hours(local(2026, 3, 2, 15, 0), CHICAGO, quiet)
    assert quiet_hours_end(local(2026, 3, 2, 14, 0), CHICAGO, quiet) == local(2026, 3, 2, 15)


def test_no_quiet_hours_when_start_equals_end() -> None:
    quiet = QuietHours(start=time(0, 0), end=time(0, 0))
    assert not in_quiet_hours(local(2026, 3, 2, 3, 0), CHICAGO, quiet)


def test_quiet_hours_are_read_on_the_local_clock_across_dst() -> None:
    # 21:30 on the evening the clocks go forward, and 07:30 the morning after: both quiet.
    assert in_quiet_hours(local(2026, 3, 7, 21, 30), CHICAGO, OVERNIGHT)
    assert in_quiet_hours(local(2026, 3, 8, 7, 30), CHICAGO, OVERNIGHT)
    assert quiet_hours_end(local(2026, 3, 7, 22), CHICAGO, OVERNIGHT) == local(2026, 3, 8, 8)
    assert quiet_hours_end(local(2026, 3, 8, 7), CHICAGO, OVERNIGHT) == local(2026, 3, 8, 8)


def test_start_of_the_quiet_hours_containing_a_moment() -> None:
    assert quiet_hours_start(local(2026, 3, 9, 7), CHICAGO, OVERNIGHT) == local(2026, 3, 8, 21)
    assert quiet_hours_start(local(2026, 3, 8, 23), CHICAGO, OVERNIGHT) == local(2026, 3, 8, 21)


def test_visit_time_in_words() -> None:
    assert spoken_when(local(2026, 3, 3, 9, 30), CHICAGO) == "Tuesday, March 3 at 9:30 AM"
    assert spoken_when(local(2026, 3, 3, 12, 0), CHICAGO) == "Tuesday, March 3 at 12:00 PM"
    assert spoken_when(local(2026, 3, 3, 0, 5), CHICAGO) == "Tuesday, March 3 at 12:05 AM"


def test_unknown_zone_falls_back_to_utc() -> None:
    assert zone_of("Mars/Olympus_Mons").key == "UTC"
