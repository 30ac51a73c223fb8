"""What is due when: check-in prompts, visit and dose reminders, planned into the due-jobs table.

Planning is idempotent. Every tick of the worker computes, from the participants, their
appointments and the study config, the messages due in the next two days, and inserts
each under a deterministic `dedupe_key`, ignoring keys that exist. A restart re-plans the
same keys, so nothing is planned (or sent) twice.

- Check-in prompt (`checkin:<participant>:<local date>`): daily, or weekly on the study's
  weekday (the participant's enrollment weekday if the study names none or an unknown
  one), at the participant's preferred local time (else the study's default time).
  18:00 stays 18:00 on the wall clock across daylight-saving changes.
- Visit reminder (`visit:<appointment>:<visit time UTC>:<hours>h`): for each planned
  appointment, `hours_before` it. Whole days are counted on the local wall clock (48
  hours before a 09:00 visit is 09:00 two days before, across a DST change too), the
  remaining hours in real time. Moving a visit gives new keys; the old reminders are
  dropped.
- Dose reminder (`dose:<participant>:<local date>:<HHMM>`): when the study enables them,
  every day at each of its local times.
- Nudges are not planned here: the worker adds one when it has sent a prompt.

Quiet hours (the participant's local time, `quiet_hours` of the study; start == end means
none):

- a check-in prompt or dose reminder that falls inside them moves to the end of the quiet
  hours (a 22:00 prompt with quiet hours 21:00-08:00 goes at 08:00 next morning);
- a visit reminder that falls inside them moves earlier, to 30 minutes before those quiet
  hours began (a reminder must come before the visit: with a 09:00 visit, the
  2-hours-before reminder at 07:00 goes at 20:30 the evening before);
- a nudge is not moved: one that falls inside them is skipped (see the worker);
- the worker checks quiet hours again when it sends: nothing goes out inside them.

When a plan changes (new check-in time, other weekday, visit moved or cancelled, dose
reminders turned off), pending messages not yet due follow it: a new time updates them,
and one that is no longer planned is skipped with the note "no longer planned".

Only active participants who have not opted out, on a channel the worker can send on
(SMS or Telegram, enabled), with a known address (a linked Telegram chat) are planned,
and nothing before their enrollment. Web-chat participants get no proactive messages.
Messages already planned for someone who then opts out or withdraws stay pending and are
skipped when due (so one who opts back in before then still gets them).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot.db.models import (
    Appointment,
    AppointmentStatus,
    Channel,
    OutreachStatus,
    Participant,
    ParticipantStatus,
    ScheduledMessage,
)
from bot.outreach.local_time import (
    at_local,
    in_quiet_hours,
    local_date,
    quiet_hours_end,
    quiet_hours_start,
    zone_of,
)
from bot.outreach.repository import Kind, Planned, insert_planned
from bot.study.config import StudyConfig

logger = logging.getLogger(__name__)

# How far ahead messages are planned (a restart within this time loses nothing).
PLAN_AHEAD = timedelta(days=2)
# A visit reminder pushed out of quiet hours goes this long before they start.
BEFORE_QUIET_HOURS = timedelta(minutes=30)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NO_LONGER_PLANNED = "no longer planned"
MOVED_INTO_PAST = "plan changed to a time already past"
_CHUNK = 500


# The kinds this module plans (nudges follow sent prompts instead).
PLANNED_KINDS = (Kind.CHECKIN_PROMPT, Kind.VISIT_REMINDER, Kind.DOSE_REMINDER)


@dataclass(frozen=True)
class PlanSummary:
    """What one planning pass changed."""

    added: int = 0
    moved: int = 0
    dropped: int = 0


# --- what each participant should get (no database) --------------------------------


def plan_for_participant(
    *,
    participant: Participant,
    appointments: Iterable[Appointment],
    study: StudyConfig,
    now: datetime,
    ahead: timedelta = PLAN_AHEAD,
) -> list[Planned]:
    """Every message due on the participant's local dates from yesterday to `ahead` on.

    Due times may be in the past; the caller keeps those due within its window.
    """
    zone = zone_of(participant.timezone)
    today = local_date(now, zone)
    days = [today + timedelta(days=offset) for offset in range(-1, ahead.days + 2)]
    planned = [
        *_checkin_prompts(participant, study, zone, days),
        *_visit_reminders(participant, appointments, study, zone),
        *_dose_reminders(participant, study, zone, days),
    ]
    return [item for item in planned if item.due_at > participant.enrolled_at]


def _checkin_prompts(
    participant: Participant, study: StudyConfig, zone: ZoneInfo, days: Sequence[date]
) -> Iterator[Planned]:
    schedule = study.checkins
    clock = participant.preferred_contact_time or schedule.default_time
    weekday = None
    if schedule.frequency == "weekly":
        weekday = _weekday(schedule.weekday, local_date(participant.enrolled_at, zone).weekday())
    for day in days:
        if weekday is not None and day.weekday() != weekday:
            continue
        due, moved = _later_if_quiet(at_local(day, clock, zone), zone, study)
        yield Planned(
            participant_id=participant.id,
            kind=Kind.CHECKIN_PROMPT,
            due_at=due,
            dedupe_key=f"checkin:{participant.id}:{day.isoformat()}",
            detail={"local_date": day.isoformat(), **moved},
        )


def _dose_reminders(
    participant: Participant, study: StudyConfig, zone: ZoneInfo, days: Sequence[date]
) -> Iterator[Planned]:
    if not study.dose_reminders.enabled:
        return
    for day in days:
        for clock in study.dose_reminders.times:
            due, moved = _later_if_quiet(at_local(day, clock, zone), zone, study)
            yield Planned(
                participant_id=participant.id,
                kind=Kind.DOSE_REMINDER,
                due_at=due,
                dedupe_key=f"dose:{participant.id}:{day.isoformat()}:{clock:%H%M}",
                detail={"local_date": day.isoformat(), "local_time": f"{clock:%H:%M}", **moved},
            )


def _visit_reminders(
    participant: Participant,
    appointments: Iterable[Appointment],
    study: StudyConfig,
    zone: ZoneInfo,
) -> Iterator[Planned]:
    for appointment in appointments:
        if appointment.status is not AppointmentStatus.PLANNED:
            continue
        for hours in study.visit_reminders.hours_before:
            due, moved = _earlier_if_quiet(
                _before_visit(appointment.scheduled_at, hours, zone), zone, study
            )
            if due >= appointment.scheduled_at:
                continue
            yield Planned(
                participant_id=participant.id,
                kind=Kind.VISIT_REMINDER,
                due_at=due,
                dedupe_key=(
                    f"visit:{appointment.id}:{appointment.scheduled_at:%Y%m%dT%H%MZ}:{hours}h"
                ),
                detail={
                    "appointment_id": appointment.id,
                    "visit_key": appointment.visit_key,
                    "visit_at": appointment.scheduled_at.isoformat(),
                    "hours_before": hours,
                    **moved,
                },
            )


def _before_visit(visit_at: datetime, hours: int, zone: ZoneInfo) -> datetime:
    """`hours` before a visit: whole days on the local wall clock, the rest in real time."""
    days, rest = divmod(hours, 24)
    local = visit_at.astimezone(zone)
    same_clock = at_local(local.date() - timedelta(days=days), local.time(), zone)
    return same_clock - timedelta(hours=rest)


def _later_if_quiet(
    due: datetime, zone: ZoneInfo, study: StudyConfig
) -> tuple[datetime, dict[str, str]]:
    """Move a time inside quiet hours to their end."""
    if not in_quiet_hours(due, zone, study.quiet_hours):
        return due, {}
    return quiet_hours_end(due, zone, study.quiet_hours), {"moved": "after quiet hours"}


def _earlier_if_quiet(
    due: datetime, zone: ZoneInfo, study: StudyConfig
) -> tuple[datetime, dict[str, str]]:
    """Move a time inside quiet hours to shortly before they start."""
    if not in_quiet_hours(due, zone, study.quiet_hours):
        return due, {}
    start = quiet_hours_start(due, zone, study.quiet_hours)
    return start - BEFORE_QUIET_HOURS, {"moved": "before quiet hours"}


def _weekday(name: str | None, fallback: int) -> int:
    """Monday 0 ... Sunday 6 from a name or its first three letters."""
    wanted = (name or "").strip().lower()
    for number, day in enumerate(WEEKDAYS):
        if wanted and (wanted == day or wanted == day[:3]):
            return number
    if wanted:
        logger.warning("checkins.weekday %r is not a weekday; using the enrollment weekday", name)
    return fallback


# --- into the due-jobs table ----------------------------------------------------------


def plannable_participants(*, session: Session, channels: Collection[Channel]) -> list[Participant]:
    """Active participants who can be reached on one of `channels` and have not opted out."""
    reachable = [channel for channel in channels if channel is not Channel.WEB]
    if not reachable:
        return []
    rows = session.execute(
        select(Participant)
        .where(
            Participant.status == ParticipantStatus.ACTIVE,
            Participant.opted_out_at.is_(None),
            Participant.channel.in_(reachable),
            Participant.address_encrypted.is_not(None),
        )
        .order_by(Participant.id)
    ).scalars()
    return list(rows)


def sync_plan(
    *,
    session: Session,
    study: StudyConfig,
    now: datetime,
    channels: Collection[Channel],
    ahead: timedelta = PLAN_AHEAD,
) -> PlanSummary:
    """Plan every reachable participant's messages due from now to `ahead` on."""
    participants = plannable_participants(session=session, channels=channels)
    total = PlanSummary()
    for start in range(0, len(participants), _CHUNK):
        chunk = participants[start : start + _CHUNK]
        summary = _sync_chunk(session, study, now, ahead, chunk)
        total = PlanSummary(
            total.added + summary.added,
            total.moved + summary.moved,
            total.dropped + summary.dropped,
        )
    if total != PlanSummary():
        logger.info(
            "outreach plan: %s added, %s moved, %s dropped", total.added, total.moved, total.dropped
        )
    return total


def _sync_chunk(
    session: Session,
    study: StudyConfig,
    now: datetime,
    ahead: timedelta,
    participants: Sequence[Participant],
) -> PlanSummary:
    ids = [participant.id for participant in participants]
    appointments = _appointments_by_participant(session, ids, now, ahead, study)
    candidates = {
        item.dedupe_key: item
        for participant in participants
        for item in plan_for_participant(
            participant=participant,
            appointments=appointments.get(participant.id, []),
            study=study,
            now=now,
            ahead=ahead,
        )
    }
    existing = _existing_rows(session, ids, now)
    window_end = now + ahead
    new = [
        item
        for key, item in candidates.items()
        if now <= item.due_at <= window_end and key not in existing
    ]
    moved = dropped = 0
    for key, row in existing.items():
        if row.status is not OutreachStatus.PENDING or row.due_at < now:
            continue  # sent, skipped, or due already: the worker deals with it
        item = candidates.get(key)
        if item is None:
            dropped += _drop(session, row, NO_LONGER_PLANNED)
        elif item.due_at < now:
            dropped += _drop(session, row, MOVED_INTO_PAST)
        elif item.due_at != row.due_at:
            moved += _move(session, row, item)
    return PlanSummary(insert_planned(session=session, items=new, now=now), moved, dropped)


def _appointments_by_participant(
    session: Session, ids: Sequence[int], now: datetime, ahead: timedelta, study: StudyConfig
) -> dict[int, list[Appointment]]:
    """Planned visits whose reminders may fall in the planning window."""
    longest = max(study.visit_reminders.hours_before, default=0)
    until = now + ahead + timedelta(hours=longest) + timedelta(days=1)
    rows = session.execute(
        select(Appointment).where(
            Appointment.participant_id.in_(ids),
            Appointment.status == AppointmentStatus.PLANNED,
            Appointment.scheduled_at > now,
            Appointment.scheduled_at <= until,
        )
    ).scalars()
    grouped: dict[int, list[Appointment]] = {}
    for appointment in rows:
        grouped.setdefault(appointment.participant_id, []).append(appointment)
    return grouped


def _existing_rows(
    session: Session, ids: Sequence[int], now: datetime
) -> dict[str, ScheduledMessage]:
    """Planned-kind rows that a candidate may share a key with, and every pending one."""
    rows = session.execute(
        select(ScheduledMessage).where(
            ScheduledMessage.participant_id.in_(ids),
            ScheduledMessage.kind.in_([kind.value for kind in PLANNED_KINDS]),
            or_(
                ScheduledMessage.status == OutreachStatus.PENDING,
                ScheduledMessage.due_at >= now - timedelta(days=2),
            ),
        )
    ).scalars()
    return {row.dedupe_key: row for row in rows}


def _drop(session: Session, row: ScheduledMessage, note: str) -> int:
    """Skip a pending message the plan no longer has; 1 if this call did it."""
    result = session.execute(
        update(ScheduledMessage)
        .where(ScheduledMessage.id == row.id, ScheduledMessage.status == OutreachStatus.PENDING)
        .values(status=OutreachStatus.SKIPPED, note=note)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:
        logger.info("outreach %s (%s) skipped: %s", row.id, row.kind, note)
    return int(result.rowcount)


def _move(session: Session, row: ScheduledMessage, item: Planned) -> int:
    """Give a pending message its new due time; 1 if this call did it."""
    result = session.execute(
        update(ScheduledMessage)
        .where(ScheduledMessage.id == row.id, ScheduledMessage.status == OutreachStatus.PENDING)
        .values(due_at=item.due_at, detail=item.detail)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)
