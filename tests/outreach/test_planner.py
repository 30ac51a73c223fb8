"""What is due when: prompts at local time across DST, quiet hours, reminders, re-planning."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.db.models import (
    Appointment,
    AppointmentStatus,
    Channel,
    OutreachStatus,
    Participant,
)
from bot.db.session import session_scope
from bot.outreach.planner import NO_LONGER_PLANNED, plan_for_participant, sync_plan
from bot.outreach.repository import Kind, Planned
from bot.study.config import StudyConfig
from tests.outreach.conftest import (
    BERLIN,
    CHICAGO,
    FakeClock,
    add_appointment,
    add_participant,
    local,
    make_study,
    scheduled,
    update_participant,
    withdraw,
)

UTC = timezone.utc
NO_QUIET = {"quiet_hours": {"start": "00:00", "end": "00:00"}}
ONLY_CHECKINS = {"dose_reminders": {"enabled": False}, "visits": []}


def participant(
    *,
    tz: str = "America/Chicago",
    checkin_time: time | None = time(18, 0),
    enrolled_at: datetime | None = None,
) -> Participant:
    """A participant as the planner sees one (not stored)."""
    return Participant(
        id=7,
        study_id="P-007",
        sender_id="P-007",
        channel=Channel.SMS,
        timezone=tz,
        preferred_contact_time=checkin_time,
        enrolled_at=enrolled_at or datetime(2026, 1, 1, tzinfo=UTC),
    )


def plan(
    study: StudyConfig,
    who: Participant,
    now: datetime,
    appointments: Sequence[Appointment] = (),
    kind: Kind | None = None,
) -> list[Planned]:
    items = plan_for_participant(
        participant=who, appointments=appointments, study=study, now=now.astimezone(UTC)
    )
    return sorted((i for i in items if kind in (None, i.kind)), key=lambda i: i.due_at)


def local_times(items: Sequence[Planned], zone: ZoneInfo = CHICAGO) -> list[str]:
    return [item.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") for item in items]


def test_daily_prompts_at_the_preferred_local_time() -> None:
    items = plan(make_study(**ONLY_CHECKINS), participant(), local(2026, 3, 2, 12))

    assert local_times(items) == [
        "2026-03-01 18:00 CST",
        "2026-03-02 18:00 CST",
        "2026-03-03 18:00 CST",
        "2026-03-04 18:00 CST",
        "2026-03-05 18:00 CST",
    ]
    assert [item.dedupe_key for item in items][1] == "checkin:7:2026-03-02"
    assert {item.kind for item in items} == {Kind.CHECKIN_PROMPT}


def test_the_study_default_time_when_the_participant_has_none() -> None:
    study = make_study(**ONLY_CHECKINS, checkins={"default_time": "17:15"})
    items = plan(study, participant(checkin_time=None), local(2026, 3, 2, 12))
    assert local_times(items)[1] == "2026-03-02 17:15 CST"


def test_prompts_stay_at_18_local_across_spring_forward() -> None:
    items = plan(make_study(**ONLY_CHECKINS), participant(), local(2026, 3, 7, 12))

    assert local_times(items)[1:4] == [
        "2026-03-07 18:00 CST",
        "2026-03-08 18:00 CDT",
        "2026-03-09 18:00 CDT",
    ]
    assert items[2].due_at - items[1].due_at == timedelta(hours=23)


def test_prompts_stay_at_18_local_across_fall_back() -> None:
    items = plan(make_study(**ONLY_CHECKINS), participant(), local(2026, 10, 31, 12))

    assert local_times(items)[1:3] == ["2026-10-31 18:00 CDT", "2026-11-01 18:00 CST"]
    assert items[2].due_at - items[1].due_at == timedelta(hours=25)


def test_a_prompt_in_the_spring_forward_gap_goes_when_the_clock_reaches_it() -> None:
    study = make_study(**ONLY_CHECKINS, **NO_QUIET)
    items = plan(study, participant(checkin_time=time(2, 30)), local(2026, 3, 8, 0))

    gap_day = next(item for item in items if item.dedupe_key == "checkin:7:2026-03-08")
    assert gap_day.due_at == datetime(2026, 3, 8, 8, 30, tzinfo=UTC)
    assert local_times([gap_day]) == ["2026-03-08 03:30 CDT"]


def test_a_prompt_at_a_time_that_happens_twice_goes_once_at_the_first() -> None:
    study = make_study(**ONLY_CHECKINS, **NO_QUIET)
    items = plan(study, participant(checkin_time=time(1, 30)), local(2026, 11, 1, 0))

    fold_day = [item for item in items if item.dedupe_key == "checkin:7:2026-11-01"]
    assert [item.due_at for item in fold_day] == [datetime(2026, 11, 1, 6, 30, tzinfo=UTC)]
    assert local_times(fold_day) == ["2026-11-01 01:30 CDT"]


def test_europe_berlin_across_both_changes() -> None:
    study = make_study(**ONLY_CHECKINS)
    berlin = participant(tz="Europe/Berlin")

    spring = local_times(plan(study, berlin, local(2026, 3, 28, 12, zone=BERLIN)), BERLIN)
    autumn = local_times(plan(study, berlin, local(2026, 10, 24, 12, zone=BERLIN)), BERLIN)

    assert spring[1:3] == ["2026-03-28 18:00 CET", "2026-03-29 18:00 CEST"]
    assert autumn[1:3] == ["2026-10-24 18:00 CEST", "2026-10-25 18:00 CET"]


def test_weekly_prompts_on_the_study_weekday() -> None:
    study = make_study(**ONLY_CHECKINS, checkins={"frequency": "weekly", "weekday": "Wednesday"})
    items = plan(
        study,
        participant(),
        local(2026, 3, 2, 12),  # a Monday: the plan covers Sunday to Thursday
    )
    assert local_times(items) == ["2026-03-04 18:00 CST"]


def test_weekly_prompts_on_the_enrollment_weekday_when_the_study_names_none() -> None:
    study = make_study(**ONLY_CHECKINS, checkins={"frequency": "weekly", "weekday": None})
    enrolled = local(2026, 2, 24, 10).astimezone(UTC)  # a Tuesday
    items = plan(study, participant(enrolled_at=enrolled), local(2026, 3, 2, 12))
    assert local_times(items) == ["2026-03-03 18:00 CST"]


def test_nothing_is_planned_before_enrollment() -> None:
    enrolled = local(2026, 3, 2, 19).astimezone(UTC)
    items = plan(
        make_study(**ONLY_CHECKINS), participant(enrolled_at=enrolled), local(2026, 3, 2, 19)
    )
    assert local_times(items)[0] == "2026-03-03 18:00 CST"


def test_a_prompt_in_quiet_hours_moves_to_their_end() -> None:
    items = plan(
        make_study(**ONLY_CHECKINS), participant(checkin_time=time(22, 0)), local(2026, 3, 2, 12)
    )

    monday = next(item for item in items if item.dedupe_key == "checkin:7:2026-03-02")
    assert local_times([monday]) == ["2026-03-03 08:00 CST"]
    assert monday.detail["moved"] == "after quiet hours"


def test_a_prompt_in_daytime_quiet_hours_moves_to_their_end() -> None:
    study = make_study(**ONLY_CHECKINS, quiet_hours={"start": "13:00", "end": "15:00"})
    items = plan(study, participant(checkin_time=time(14, 0)), local(2026, 3, 2, 12))
    assert local_times(items)[1] == "2026-03-02 15:00 CST"


def test_visit_reminders_48_and_2_hours_before() -> None:
    study = make_study(dose_reminders={"enabled": False}, **NO_QUIET)
    visit = Appointment(
        id=31,
        participant_id=7,
        visit_key="week_4",
        scheduled_at=local(2026, 3, 5, 10, 30).astimezone(UTC),
        status=AppointmentStatus.PLANNED,
    )
    items = plan(study, participant(), local(2026, 3, 2, 12), [visit], Kind.VISIT_REMINDER)

    assert local_times(items) == ["2026-03-03 10:30 CST", "2026-03-05 08:30 CST"]
    assert [item.dedupe_key for item in items] == [
        "visit:31:20260305T1630Z:48h",
        "visit:31:20260305T1630Z:2h",
    ]
    assert items[0].detail["appointment_id"] == 31
    assert items[0].detail["visit_key"] == "week_4"


def test_whole_days_before_a_visit_are_counted_on_the_wall_clock_across_dst() -> None:
    study = make_study(dose_reminders={"enabled": False})
    visit = Appointment(
        id=32,
        participant_id=7,
        visit_key="week_4",
        scheduled_at=local(2026, 3, 9, 10, 30).astimezone(UTC),  # CDT
        status=AppointmentStatus.PLANNED,
    )
    items = plan(study, participant(), local(2026, 3, 6, 12), [visit], Kind.VISIT_REMINDER)
    assert local_times(items) == ["2026-03-07 10:30 CST", "2026-03-09 08:30 CDT"]


def test_a_visit_reminder_in_quiet_hours_moves_to_the_evening_before() -> None:
    study = make_study(dose_reminders={"enabled": False})  # quiet 21:00-08:00, visits at 09:00
    visit = Appointment(
        id=33,
        participant_id=7,
        visit_key="week_4",
        scheduled_at=local(2026, 3, 5, 9, 0).astimezone(UTC),
        status=AppointmentStatus.PLANNED,
    )
    items = plan(study, participant(), local(2026, 3, 2, 12), [visit], Kind.VISIT_REMINDER)

    assert local_times(items) == ["2026-03-03 09:00 CST", "2026-03-04 20:30 CST"]
    assert items[1].detail["moved"] == "before quiet hours"


def test_cancelled_visits_get_no_reminder() -> None:
    visit = Appointment(
        id=34,
        participant_id=7,
        visit_key="week_4",
        scheduled_at=local(2026, 3, 5, 10).astimezone(UTC),
        status=AppointmentStatus.CANCELLED,
    )
    items = plan(make_study(), participant(), local(2026, 3, 2, 12), [visit], Kind.VISIT_REMINDER)
    assert items == []


def test_dose_reminders_every_day_when_the_study_asks_for_them() -> None:
    study = make_study(visits=[], dose_reminders={"enabled": True, "times": ["08:30", "20:00"]})
    items = plan(study, participant(), local(2026, 3, 2, 12), kind=Kind.DOSE_REMINDER)

    assert local_times(items)[2:4] == ["2026-03-02 08:30 CST", "2026-03-02 20:00 CST"]
    assert items[2].dedupe_key == "dose:7:2026-03-02:0830"


def test_a_dose_reminder_in_quiet_hours_moves_to_their_end() -> None:
    study = make_study(visits=[], dose_reminders={"enabled": True, "times": ["07:30"]})
    items = plan(study, participant(), local(2026, 3, 2, 12), kind=Kind.DOSE_REMINDER)
    assert local_times(items)[0] == "2026-03-01 08:00 CST"


def test_no_dose_reminders_unless_enabled() -> None:
    study = make_study(visits=[], dose_reminders={"enabled": False, "times": ["08:30"]})
    assert plan(study, participant(), local(2026, 3, 2, 12), kind=Kind.DOSE_REMINDER) == []


# --- into the database ------------------------------------------------------------------

pytestmark_db = pytest.mark.usefixtures("database_url")
CHANNELS = (Channel.SMS, Channel.TELEGRAM)


def _sync(study: StudyConfig, clock: FakeClock, channels: Sequence[Channel] = CHANNELS):
    with session_scope() as session:
        return sync_plan(session=session, study=study, now=clock(), channels=channels)


@pytestmark_db
def test_planning_twice_adds_nothing_the_second_time(clock: FakeClock) -> None:
    study = make_study(**ONLY_CHECKINS)
    who = add_participant(study=study, study_id="P-1", address="101", enrolled_at=clock())

    first = _sync(study, clock)
    again = _sync(study, clock)
    clock.advance(minutes=30)
    later = _sync(study, clock)

    assert first.added == 2  # 18:00 today and tomorrow; the day after is beyond 48 h
    assert (again.added, later.added) == (0, 0)
    assert [row.dedupe_key for row in scheduled()] == [
        f"checkin:{who.id}:2026-03-02",
        f"checkin:{who.id}:2026-03-03",
    ]


@pytestmark_db
def test_only_reachable_active_participants_are_planned(clock: FakeClock) -> None:
    study = make_study(**ONLY_CHECKINS)
    ok = add_participant(study=study, study_id="P-ok", address="201", enrolled_at=clock())
    opted = add_participant(study=study, study_id="P-opted", address="202", enrolled_at=clock())
    gone = add_participant(study=study, study_id="P-gone", address="203", enrolled_at=clock())
    add_participant(study=study, study_id="P-unlinked", enrolled_at=clock())  # no Telegram chat
    sms = add_participant(
        study=study, study_id="P-sms", channel=Channel.SMS, address="+15555550104",
        enrolled_at=clock(),
    )  # fmt: skip
    update_participant(opted.id, opted_out_at=clock())
    withdraw(gone.id)

    _sync(study, clock, channels=(Channel.TELEGRAM,))

    assert {row.participant_id for row in scheduled()} == {ok.id}
    assert sms.id not in {row.participant_id for row in scheduled()}


@pytestmark_db
def test_a_new_checkin_time_moves_pending_prompts(clock: FakeClock) -> None:
    study = make_study(**ONLY_CHECKINS)
    who = add_participant(study=study, study_id="P-1", address="101", enrolled_at=clock())
    _sync(study, clock)

    update_participant(who.id, preferred_contact_time=time(19, 30))
    summary = _sync(study, clock)

    assert summary.moved == 2
    assert [row.due_at.astimezone(CHICAGO).strftime("%d %H:%M") for row in scheduled()] == [
        "02 19:30",
        "03 19:30",
    ]


@pytestmark_db
def test_reminders_of_a_moved_or_cancelled_visit_are_dropped(clock: FakeClock) -> None:
    study = make_study(dose_reminders={"enabled": False}, visits=[], **NO_QUIET)
    who = add_participant(study=study, study_id="P-1", address="101", enrolled_at=clock())
    visit = add_appointment(who.id, "week_4", local(2026, 3, 4, 14).astimezone(UTC))
    _sync(study, clock)
    before = {row.dedupe_key for row in scheduled(kind=Kind.VISIT_REMINDER.value)}

    with session_scope() as session:
        appointment = session.get(Appointment, visit)
        assert appointment is not None
        appointment.scheduled_at = local(2026, 3, 4, 13).astimezone(UTC)
    _sync(study, clock)

    rows = {row.dedupe_key: row for row in scheduled(kind=Kind.VISIT_REMINDER.value)}
    assert before == {f"visit:{visit}:20260304T2000Z:48h", f"visit:{visit}:20260304T2000Z:2h"}
    assert {key: row.status for key, row in rows.items() if key in before} == {
        key: OutreachStatus.SKIPPED for key in before
    }
    assert {rows[key].note for key in before} == {NO_LONGER_PLANNED}
    assert {key for key, row in rows.items() if row.status is OutreachStatus.PENDING} == {
        f"visit:{visit}:20260304T1900Z:48h",
        f"visit:{visit}:20260304T1900Z:2h",
    }

    with session_scope() as session:
        appointment = session.get(Appointment, visit)
        assert appointment is not None
        appointment.status = AppointmentStatus.CANCELLED
    _sync(study, clock)
    assert not scheduled(kind=Kind.VISIT_REMINDER.value, status=OutreachStatus.PENDING)


@pytestmark_db
def test_visits_planned_at_enrollment_get_reminders(clock: FakeClock) -> None:
    study = make_study(dose_reminders={"enabled": False})
    # Enrolled 13 days ago: the first-dose visit (day 14) is tomorrow at 09:00.
    enrolled = clock() - timedelta(days=13)
    add_participant(study=study, study_id="P-1", address="101", enrolled_at=enrolled)

    _sync(study, clock)

    reminders = scheduled(kind=Kind.VISIT_REMINDER.value)
    assert [row.due_at.astimezone(CHICAGO).strftime("%m-%d %H:%M") for row in reminders] == [
        "03-02 20:30"  # 2 h before 09:00 is in quiet hours: the evening before
    ]
    assert reminders[0].detail is not None
    assert reminders[0].detail["visit_key"] == "baseline"
