"""Engagement and retention figures over a period, per study and per participant.

Each figure is a small function that returns plain data; pages, the report and the plots
only format it. Times are UTC. A period is half-open, [start, end): a report "from
2025-03-01 to 2025-03-31" starts at 2025-03-01 00:00 UTC and ends at 2025-04-01 00:00 UTC.
Weeks are ISO 8601 weeks in UTC (the study keeps no time zone of its own): Monday 00:00 to
Sunday 24:00, numbered as ISO does (2024-12-30 starts 2025-W01). A weekly series lists
every week the period touches, including weeks with nothing in them.

The definitions, exactly:

- Check-in prompt: a `scheduled_messages` row of kind `checkin_prompt` with status `sent`;
  its time is `sent_at`. A prompt belongs to the period when `sent_at` is inside it.
- Response window of a prompt: from `sent_at` to 24 hours later, or to the participant's
  next sent prompt if that comes sooner (so one check-in answers at most one prompt). The
  window may run past the period's end.
- Answered: the participant completed a check-in (`checkins.status = completed`) with
  `completed_at` inside the window. Missed: not answered, and the window has closed.
  Pending: not answered yet and the window is still open at the time of computing.
- Response rate: answered prompts / (answered + missed prompts); pending prompts are left
  out of both, as their outcome is not known yet.
- Time to reply: from `sent_at` to the participant's first inbound message (message log,
  direction `in`) inside the window; the median is over prompts that got one.
- Adherence: dose reports with `taken = yes` / all dose reports, by `reported_at` in the
  period ("some" counts as not taken as planned).
- Missed-check-in streaks, per participant, over the period's answered and missed prompts
  in time order (pending ones skipped): the longest run of missed prompts, and the current
  run (the missed prompts since the last answered one).
- At risk: active participants flagged now (`at_risk_since` set by the outreach scheduler
  after too many missed check-ins in a row; it is cleared when they check in again, so
  past flags are not kept).
- Opt-outs: participants whose `opted_out_at` is in the period (and the number opted out
  now). Withdrawals: participants whose status is `withdrawn` now (the table keeps no
  date), and withdrawal requests: escalations of type `withdrawal` raised in the period.
- Escalations by level, raised (`created_at`) in the period: how many, how many
  acknowledged, the median of `acknowledged_at - created_at` over those acknowledged, how
  many were acknowledged within the study's response target, and how many are open now.
- Feedback: ratings (1-5) given in the period: count, mean and median.
- Symptom grades per week: PRO-CTCAE severity grades are ordinal, so a week's reports of a
  symptom are shown as the share at each grade 0-4 with their number (n), never a mean.
- By language: the figures above split by the participants' language now
  (`participants.language`; bot.research.cohort.language_cohorts): enrolled, active,
  response rate, median time to reply, adherence, opted out now, at risk now, escalations
  and symptom reports in the period.

Test traffic (participants marked `is_test`: the web chat's visitors) is left out of every
study-wide figure unless `include_test=True` (bot.research.cohort); a figure of one named
participant is theirs whatever they are.
"""

from __future__ import annotations

import statistics
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.core.languages import STAFF_NAMES, language_or_default
from bot.db.models import (
    Channel,
    Checkin,
    CheckinStatus,
    Direction,
    DoseReport,
    Escalation,
    EscalationLevel,
    EscalationStatus,
    EscalationType,
    Feedback,
    MessageLog,
    OutreachStatus,
    Participant,
    ParticipantStatus,
    ScheduledMessage,
    SymptomReport,
)
from bot.outreach.repository import Kind
from bot.research.cohort import language_cohorts, owned_by_counted, participants_counted
from bot.study.config import StudyConfig

RESPONSE_WINDOW = timedelta(hours=24)
# The definitions above, short, for pages and reports to show beside the figures.
DEFINITIONS = (
    (
        "Response rate",
        "Check-in prompts sent in the period that got a completed check-in within 24 h "
        "(or before the next prompt, if sooner), out of those answered or whose 24 h have "
        "passed.",
    ),
    (
        "Time to reply",
        "From a prompt to the participant's first message within that window; the median.",
    ),
    ("Adherence", 'Dose reports saying "yes" (taken as planned), out of all dose reports.'),
    (
        "Missed streak",
        "Prompts missed in a row: the longest run in the period, and the current one.",
    ),
    (
        "At risk",
        "Active participants flagged now after missing too many check-ins in a row.",
    ),
    (
        "Opt-outs and withdrawals",
        "Opted out in the period (and now); withdrawn now; withdrawal requests raised in "
        "the period.",
    ),
    (
        "Time to acknowledge",
        "From an escalation being raised to staff acknowledging it; the median, per level.",
    ),
    ("Feedback", "Ratings from 1 (poor) to 5 (great) given in the period."),
    (
        "Symptom grades per week",
        "PRO-CTCAE severity reports of each symptom in an ISO week (Monday to Sunday, UTC): "
        "the share at each grade, 0 none to 4 very severe, out of that week's n reports. "
        "Grades are ordinal, so they are never averaged.",
    ),
    (
        "By language",
        "The same figures for the participants of each language (the language they read "
        "now: English or Spanish).",
    ),
)
LEVELS = (EscalationLevel.EMERGENCY, EscalationLevel.URGENT, EscalationLevel.ROUTINE)
RATINGS = (1, 2, 3, 4, 5)
# The study-wide symptom plot shows the most reported symptoms only, to stay readable.
MAX_STUDY_SYMPTOMS = 6


# --- the period -------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    """00:00 UTC on a day."""
    return datetime.combine(day, time(0, 0), tzinfo=timezone.utc)


def week_start(moment: datetime) -> date:
    """The Monday (UTC) of the ISO week a moment falls in."""
    day = moment.astimezone(timezone.utc).date()
    return day - timedelta(days=day.weekday())


def iso_week_label(week: date) -> str:
    """An ISO week as people read it: "2026-W48" (the ISO year, which may differ at New Year)."""
    year, number, _ = week.isocalendar()
    return f"{year}-W{number:02d}"


@dataclass(frozen=True)
class Period:
    """A span of time [start, end) in UTC; figures count what happened inside it."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        """Aware datetimes only, and an end after the start."""
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a period needs timezone-aware datetimes")
        if self.end <= self.start:
            raise ValueError("the period must end after it starts")

    @classmethod
    def from_dates(cls, since: date, until: date | None = None, *, now: datetime) -> Period:
        """From the first to the last day (both included, UTC days); up to `now` without one."""
        end = _midnight(until + timedelta(days=1)) if until is not None else now
        return cls(_midnight(since), end)

    @property
    def last_day(self) -> date:
        """The last (UTC) day the period touches."""
        return (self.end - timedelta(microseconds=1)).astimezone(timezone.utc).date()

    @property
    def label(self) -> str:
        """The period as people read it."""
        return f"{self.start:%Y-%m-%d} to {self.last_day:%Y-%m-%d} (UTC)"

    def weeks(self) -> list[date]:
        """The Mondays of the weeks the period touches, in order."""
        first, weeks = week_start(self.start), []
        while _midnight(first) < self.end:
            weeks.append(first)
            first += timedelta(days=7)
        return weeks


def _in_period(column: Any, period: Period) -> list[Any]:
    """WHERE clauses: the column's time is inside the period."""
    return [column >= period.start, column < period.end]


def _participant_filter(
    column: Any, participant_id: int | None, include_test: bool = False
) -> list[Any]:
    """WHERE clause for one participant; else everyone counted (test traffic if asked)."""
    if participant_id is not None:
        return [column == participant_id]
    return owned_by_counted(column, include_test)


# --- check-in prompts and their outcomes ------------------------------------------------


@dataclass(frozen=True)
class PromptOutcome:
    """One sent check-in prompt: when, its response window, and what came of it."""

    participant_id: int
    sent_at: datetime
    window_end: datetime
    completed_at: datetime | None
    replied_at: datetime | None
    decided: bool

    @property
    def answered(self) -> bool:
        """A check-in was completed inside the window."""
        return self.completed_at is not None

    @property
    def missed(self) -> bool:
        """The window closed without a completed check-in."""
        return self.decided and not self.answered


def _times_by_participant(rows: Iterable[tuple[int, datetime]]) -> dict[int, list[datetime]]:
    """(participant, time) rows as sorted lists of times per participant."""
    times: dict[int, list[datetime]] = defaultdict(list)
    for participant_id, moment in rows:
        times[participant_id].append(moment)
    return {key: sorted(values) for key, values in times.items()}


def _sent_prompts(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    participant_id: int | None,
    include_test: bool,
) -> dict[int, list[datetime]]:
    """Sent check-in prompts with `sent_at` in [start, end), per participant."""
    rows = session.execute(
        select(ScheduledMessage.participant_id, ScheduledMessage.sent_at).where(
            ScheduledMessage.kind == Kind.CHECKIN_PROMPT.value,
            ScheduledMessage.status == OutreachStatus.SENT,
            ScheduledMessage.sent_at >= start,
            ScheduledMessage.sent_at < end,
            *_participant_filter(ScheduledMessage.participant_id, participant_id, include_test),
        )
    ).all()
    return _times_by_participant((row[0], row[1]) for row in rows)


def _completed_checkins(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    participant_id: int | None,
    include_test: bool,
) -> dict[int, list[datetime]]:
    """Completion times of check-ins completed in [start, end), per participant."""
    rows = session.execute(
        select(Checkin.participant_id, Checkin.completed_at).where(
            Checkin.status == CheckinStatus.COMPLETED,
            Checkin.completed_at >= start,
            Checkin.completed_at < end,
            *_participant_filter(Checkin.participant_id, participant_id, include_test),
        )
    ).all()
    return _times_by_participant((row[0], row[1]) for row in rows)


def _inbound_messages(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    participant_id: int | None,
    include_test: bool,
) -> dict[int, list[datetime]]:
    """Times of the participants' inbound messages in [start, end), per participant."""
    rows = session.execute(
        select(Participant.id, MessageLog.created_at)
        .join(
            Participant,
            or_(
                MessageLog.participant_id == Participant.id,
                MessageLog.sender_id == Participant.sender_id,
            ),
        )
        .where(
            MessageLog.direction == Direction.INBOUND,
            MessageLog.created_at >= start,
            MessageLog.created_at < end,
            *_participant_filter(Participant.id, participant_id, include_test),
        )
    ).all()
    return _times_by_participant((row[0], row[1]) for row in rows)


def _first_between(times: Sequence[datetime], start: datetime, end: datetime) -> datetime | None:
    """The first of the sorted times in [start, end), if any."""
    index = bisect_left(times, start)
    if index < len(times) and times[index] < end:
        return times[index]
    return None


def prompt_outcomes(
    *,
    session: Session,
    period: Period,
    now: datetime,
    participant_id: int | None = None,
    include_test: bool = False,
) -> list[PromptOutcome]:
    """Every check-in prompt sent in the period, with its response window and outcome.

    A prompt is a `scheduled_messages` row of kind `checkin_prompt`, status `sent`, with
    `sent_at` in the period. Its window runs from `sent_at` to 24 h later or to the
    participant's next sent prompt, whichever is sooner. It is answered when a check-in was
    completed inside the window; decided when answered or the window closed by `now`.
    """
    start, horizon = period.start, period.end + RESPONSE_WINDOW
    prompts, checkins, inbound = (
        times(
            session=session,
            start=start,
            end=horizon,
            participant_id=participant_id,
            include_test=include_test,
        )
        for times in (_sent_prompts, _completed_checkins, _inbound_messages)
    )
    outcomes = []
    for owner, sent in prompts.items():
        for index, sent_at in enumerate(sent):
            if sent_at >= period.end:
                break
            window_end = sent_at + RESPONSE_WINDOW
            if index + 1 < len(sent):
                window_end = min(window_end, sent[index + 1])
            completed_at = _first_between(checkins.get(owner, []), sent_at, window_end)
            outcomes.append(
                PromptOutcome(
                    participant_id=owner,
                    sent_at=sent_at,
                    window_end=window_end,
                    completed_at=completed_at,
                    replied_at=_first_between(inbound.get(owner, []), sent_at, window_end),
                    decided=completed_at is not None or window_end <= now,
                )
            )
    return sorted(outcomes, key=lambda outcome: (outcome.sent_at, outcome.participant_id))


@dataclass(frozen=True)
class ResponseRate:
    """Check-in prompts sent, how many are decided (answered or missed), how many answered."""

    sent: int
    decided: int
    answered: int

    @property
    def missed(self) -> int:
        """Prompts whose window closed without a completed check-in."""
        return self.decided - self.answered

    @property
    def pending(self) -> int:
        """Prompts still inside their window, not answered yet."""
        return self.sent - self.decided

    @property
    def rate(self) -> float | None:
        """Answered / decided, or None when nothing is decided."""
        return self.answered / self.decided if self.decided else None


def response_rate(outcomes: Sequence[PromptOutcome]) -> ResponseRate:
    """Response rate: prompts answered (a check-in completed within the response window).

    Rate = answered / decided, where decided = answered + missed (window closed without a
    completed check-in); prompts still inside their window and unanswered are left out.
    """
    return ResponseRate(
        sent=len(outcomes),
        decided=sum(1 for outcome in outcomes if outcome.decided),
        answered=sum(1 for outcome in outcomes if outcome.answered),
    )


def _median_duration(durations: Sequence[timedelta]) -> timedelta | None:
    """The median of some durations, or None when there are none."""
    if not durations:
        return None
    return timedelta(seconds=statistics.median(value.total_seconds() for value in durations))


def median_reply_time(outcomes: Sequence[PromptOutcome]) -> timedelta | None:
    """Median time to reply: `sent_at` to the first inbound message inside the prompt's window.

    Only prompts that got an inbound message inside their window count; None with none.
    """
    return _median_duration(
        [outcome.replied_at - outcome.sent_at for outcome in outcomes if outcome.replied_at]
    )


@dataclass(frozen=True)
class Streaks:
    """Missed check-ins in a row: the longest run in the period, and the current one."""

    longest: int = 0
    current: int = 0


def _streaks(missed: Iterable[bool]) -> Streaks:
    """The longest and the final run of True values."""
    longest = current = 0
    for was_missed in missed:
        current = current + 1 if was_missed else 0
        longest = max(longest, current)
    return Streaks(longest=longest, current=current)


def missed_streaks(outcomes: Sequence[PromptOutcome]) -> dict[int, Streaks]:
    """Missed-check-in streaks per participant, over their decided prompts in time order.

    Longest: the longest run of missed prompts in the period. Current: the run of missed
    prompts after the last answered one. Pending prompts are skipped.
    """
    by_participant: dict[int, list[PromptOutcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.decided:
            by_participant[outcome.participant_id].append(outcome)
    return {
        owner: _streaks(item.missed for item in sorted(items, key=lambda item: item.sent_at))
        for owner, items in by_participant.items()
    }


@dataclass(frozen=True)
class WeekRate:
    """One week's check-in prompts: decided and answered (by the week of `sent_at`)."""

    week: date
    decided: int
    answered: int
    # Who the decided prompts went to.
    participants: frozenset[int] = frozenset()

    @property
    def rate(self) -> float | None:
        """Answered / decided, or None when nothing is decided that week."""
        return self.answered / self.decided if self.decided else None


def weekly_response_rates(outcomes: Sequence[PromptOutcome], period: Period) -> list[WeekRate]:
    """The response rate of each week of the period (a week with no prompts has rate None)."""
    decided: Counter[date] = Counter()
    answered: Counter[date] = Counter()
    owners: dict[date, set[int]] = defaultdict(set)
    for outcome in outcomes:
        if outcome.decided:
            week = week_start(outcome.sent_at)
            decided[week] += 1
            answered[week] += int(outcome.answered)
            owners[week].add(outcome.participant_id)
    return [
        WeekRate(week, decided[week], answered[week], frozenset(owners[week]))
        for week in period.weeks()
    ]


# --- doses ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adherence:
    """Dose reports in the period: how many, and how many said yes, some or no."""

    reports: int = 0
    taken: int = 0
    some: int = 0
    not_taken: int = 0

    @property
    def rate(self) -> float | None:
        """Reports of a dose taken as planned ("yes") / all reports, or None with none."""
        return self.taken / self.reports if self.reports else None

    def __add__(self, other: Adherence) -> Adherence:
        """Two sets of reports together."""
        return Adherence(
            self.reports + other.reports,
            self.taken + other.taken,
            self.some + other.some,
            self.not_taken + other.not_taken,
        )


def adherence_by_participant(
    *,
    session: Session,
    period: Period,
    participant_id: int | None = None,
    include_test: bool = False,
) -> dict[int, Adherence]:
    """Dose reports with `reported_at` in the period, counted per participant."""
    rows = session.execute(
        select(DoseReport.participant_id, DoseReport.taken, func.count())
        .where(
            *_in_period(DoseReport.reported_at, period),
            *_participant_filter(DoseReport.participant_id, participant_id, include_test),
        )
        .group_by(DoseReport.participant_id, DoseReport.taken)
    ).all()
    counts: dict[int, Adherence] = defaultdict(Adherence)
    for owner, taken, count in rows:
        answer = str(taken).strip().lower()
        counts[owner] += Adherence(
            reports=count,
            taken=count if answer == "yes" else 0,
            some=count if answer == "some" else 0,
            not_taken=count if answer == "no" else 0,
        )
    return dict(counts)


def adherence(
    *,
    session: Session,
    period: Period,
    participant_id: int | None = None,
    include_test: bool = False,
) -> Adherence:
    """Adherence: dose reports with `taken = yes` / all dose reports, by `reported_at`.

    "some" and "no" both count as not taken as planned; the rate is None with no reports.
    """
    counts = adherence_by_participant(
        session=session, period=period, participant_id=participant_id, include_test=include_test
    )
    return sum(counts.values(), Adherence())


# --- retention --------------------------------------------------------------------------


@dataclass(frozen=True)
class AtRisk:
    """A participant flagged at risk of dropping out, and since when."""

    study_id: str
    since: datetime


def at_risk_participants(
    *, session: Session, participant_id: int | None = None, include_test: bool = False
) -> list[AtRisk]:
    """At risk: active participants whose `at_risk_since` is set now, longest flagged first.

    The outreach scheduler sets the flag after `missed_in_a_row_for_risk` missed check-ins
    in a row and clears it when they check in again, so this is a now, not a history.
    """
    rows = session.execute(
        select(Participant.study_id, Participant.at_risk_since)
        .where(
            Participant.at_risk_since.is_not(None),
            Participant.status == ParticipantStatus.ACTIVE,
            *_participant_filter(Participant.id, participant_id, include_test),
        )
        .order_by(Participant.at_risk_since, Participant.study_id)
    ).all()
    return [AtRisk(study_id=row[0], since=row[1]) for row in rows]


@dataclass(frozen=True)
class Departures:
    """Opt-outs and withdrawals (module doc: which are in the period and which are now)."""

    opted_out_in_period: list[str]
    opted_out_now: int
    withdrawn_now: list[str]
    withdrawal_requests: int
    completed_now: int


def _study_ids(session: Session, *clauses: Any) -> list[str]:
    """Study IDs of the participants matching the clauses, sorted."""
    return list(
        session.execute(
            select(Participant.study_id).where(*clauses).order_by(Participant.study_id)
        ).scalars()
    )


def departures(*, session: Session, period: Period, include_test: bool = False) -> Departures:
    """Opt-outs and withdrawals.

    Opted out in the period: `opted_out_at` inside it (still opted out). Withdrawn: status
    `withdrawn` now (no withdrawal date is kept). Withdrawal requests: escalations of type
    `withdrawal` raised in the period.
    """
    counted = participants_counted(include_test)
    opted_out_now = session.execute(
        select(func.count())
        .select_from(Participant)
        .where(Participant.opted_out_at.is_not(None), *counted)
    ).scalar_one()
    completed_now = session.execute(
        select(func.count())
        .select_from(Participant)
        .where(Participant.status == ParticipantStatus.COMPLETED, *counted)
    ).scalar_one()
    requests = session.execute(
        select(func.count())
        .select_from(Escalation)
        .where(
            Escalation.type == EscalationType.WITHDRAWAL,
            *_in_period(Escalation.created_at, period),
            *owned_by_counted(Escalation.participant_id, include_test),
        )
    ).scalar_one()
    return Departures(
        opted_out_in_period=_study_ids(
            session, *_in_period(Participant.opted_out_at, period), *counted
        ),
        opted_out_now=int(opted_out_now),
        withdrawn_now=_study_ids(
            session, Participant.status == ParticipantStatus.WITHDRAWN, *counted
        ),
        withdrawal_requests=int(requests),
        completed_now=int(completed_now),
    )


# --- escalations ------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelFigures:
    """Escalations of one level raised in the period, and how fast staff acknowledged them."""

    level: EscalationLevel
    target: timedelta
    raised: int = 0
    acknowledged: int = 0
    within_target: int = 0
    open_now: int = 0
    median_time_to_acknowledge: timedelta | None = None


def _target(study: StudyConfig, level: EscalationLevel) -> timedelta:
    """The study's time to acknowledge an escalation of this level."""
    return timedelta(minutes=getattr(study.escalation.response_minutes, level.value))


def escalations_by_level(
    *,
    session: Session,
    period: Period,
    study: StudyConfig,
    participant_id: int | None = None,
    include_test: bool = False,
) -> list[LevelFigures]:
    """Escalations raised (`created_at`) in the period, per level: emergency, urgent, routine.

    Time to acknowledge = `acknowledged_at - created_at`; the median is over those
    acknowledged. Within target: acknowledged within the study's response minutes for the
    level. Open now: status `open`.
    """
    rows = session.execute(
        select(
            Escalation.level, Escalation.status, Escalation.created_at, Escalation.acknowledged_at
        ).where(
            *_in_period(Escalation.created_at, period),
            *_participant_filter(Escalation.participant_id, participant_id, include_test),
        )
    ).all()
    figures = []
    for level in LEVELS:
        mine = [row for row in rows if row[0] is level]
        delays = [row[3] - row[2] for row in mine if row[3] is not None]
        target = _target(study, level)
        figures.append(
            LevelFigures(
                level=level,
                target=target,
                raised=len(mine),
                acknowledged=len(delays),
                within_target=sum(1 for delay in delays if delay <= target),
                open_now=sum(1 for row in mine if row[1] is EscalationStatus.OPEN),
                median_time_to_acknowledge=_median_duration(delays),
            )
        )
    return figures


@dataclass(frozen=True)
class WeekEscalations:
    """Escalations raised in one week, by level."""

    week: date
    counts: dict[EscalationLevel, int]
    # Whose escalations they are.
    participants: frozenset[int] = frozenset()

    @property
    def total(self) -> int:
        """All levels together."""
        return sum(self.counts.values())


def weekly_escalations(
    *,
    session: Session,
    period: Period,
    participant_id: int | None = None,
    include_test: bool = False,
) -> list[WeekEscalations]:
    """Escalations raised in each week of the period, by level."""
    rows = session.execute(
        select(Escalation.level, Escalation.created_at, Escalation.participant_id).where(
            *_in_period(Escalation.created_at, period),
            *_participant_filter(Escalation.participant_id, participant_id, include_test),
        )
    ).all()
    counts: Counter[tuple[date, EscalationLevel]] = Counter(
        (week_start(row[1]), row[0]) for row in rows
    )
    owners: dict[date, set[int]] = defaultdict(set)
    for _, created_at, owner in rows:
        owners[week_start(created_at)].add(owner)
    return [
        WeekEscalations(
            week, {level: counts[(week, level)] for level in LEVELS}, frozenset(owners[week])
        )
        for week in period.weeks()
    ]


# --- feedback ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratings:
    """Feedback ratings (1-5) given in the period."""

    count: int
    mean: float | None
    median: float | None
    by_rating: dict[int, int]


def feedback_ratings(
    *,
    session: Session,
    period: Period,
    participant_id: int | None = None,
    include_test: bool = False,
) -> Ratings:
    """Feedback: ratings (1-5) with `created_at` in the period; count, mean, median, spread."""
    ratings = [
        int(rating)
        for rating in session.execute(
            select(Feedback.rating).where(
                Feedback.rating.is_not(None),
                *_in_period(Feedback.created_at, period),
                *_participant_filter(Feedback.participant_id, participant_id, include_test),
            )
        ).scalars()
    ]
    counts = Counter(ratings)
    return Ratings(
        count=len(ratings),
        mean=statistics.fmean(ratings) if ratings else None,
        median=float(statistics.median(ratings)) if ratings else None,
        by_rating={rating: counts[rating] for rating in RATINGS},
    )


# --- symptoms ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GradePoint:
    """One symptom report's grade (0-4) at its time."""

    at: datetime
    grade: float


def symptom_grades(
    *, session: Session, period: Period, participant_id: int
) -> dict[str, list[GradePoint]]:
    """A participant's graded symptom reports in the period, per symptom, in time order."""
    rows = session.execute(
        select(SymptomReport.symptom, SymptomReport.reported_at, SymptomReport.grade)
        .where(
            SymptomReport.participant_id == participant_id,
            SymptomReport.grade.is_not(None),
            *_in_period(SymptomReport.reported_at, period),
        )
        .order_by(SymptomReport.reported_at, SymptomReport.id)
    ).all()
    series: dict[str, list[GradePoint]] = defaultdict(list)
    for symptom, reported_at, grade in rows:
        series[symptom].append(GradePoint(reported_at, float(grade)))
    return dict(sorted(series.items()))


GRADES = range(5)


@dataclass(frozen=True)
class WeekGrades:
    """One symptom's graded reports in one ISO week: how many at each grade 0-4, and by whom."""

    week: date
    # Reports at grade 0, 1, 2, 3 and 4.
    counts: tuple[int, ...]
    participants: frozenset[int] = frozenset()

    @property
    def n(self) -> int:
        """Reports that week."""
        return sum(self.counts)

    @property
    def shares(self) -> tuple[float, ...] | None:
        """The share of the week's reports at each grade (summing to 1); None with no reports."""
        if not self.n:
            return None
        return tuple(count / self.n for count in self.counts)


def weekly_grade_distributions(
    *,
    session: Session,
    period: Period,
    limit: int = MAX_STUDY_SYMPTOMS,
    include_test: bool = False,
) -> dict[str, list[WeekGrades]]:
    """Per ISO week of the period, the grades reported of the `limit` most reported symptoms.

    Every week of the period is listed; a week without reports has n = 0 (a gap on a plot).
    """
    rows = session.execute(
        select(
            SymptomReport.symptom,
            SymptomReport.reported_at,
            SymptomReport.grade,
            SymptomReport.participant_id,
        ).where(
            SymptomReport.grade.is_not(None),
            *_in_period(SymptomReport.reported_at, period),
            *owned_by_counted(SymptomReport.participant_id, include_test),
        )
    ).all()
    counts: Counter[tuple[str, date, int]] = Counter()
    owners: dict[tuple[str, date], set[int]] = defaultdict(set)
    for symptom, reported_at, grade, owner in rows:
        week = week_start(reported_at)
        counts[(symptom, week, int(grade))] += 1
        owners[(symptom, week)].add(owner)
    most = Counter(row[0] for row in rows).most_common(limit)
    return {
        symptom: [
            WeekGrades(
                week,
                tuple(counts[(symptom, week, grade)] for grade in GRADES),
                frozenset(owners[(symptom, week)]),
            )
            for week in period.weeks()
        ]
        for symptom in sorted(name for name, _ in most)
    }


def symptom_report_counts(*, session: Session, period: Period) -> dict[int, int]:
    """Symptom reports in the period, per participant."""
    rows = session.execute(
        select(SymptomReport.participant_id, func.count())
        .where(*_in_period(SymptomReport.reported_at, period))
        .group_by(SymptomReport.participant_id)
    ).all()
    return {int(row[0]): int(row[1]) for row in rows}


def escalation_counts(*, session: Session, period: Period) -> dict[int, int]:
    """Escalations raised in the period, per participant."""
    rows = session.execute(
        select(Escalation.participant_id, func.count())
        .where(*_in_period(Escalation.created_at, period))
        .group_by(Escalation.participant_id)
    ).all()
    return {int(row[0]): int(row[1]) for row in rows}


# --- everything for a page or a report --------------------------------------------------


@dataclass(frozen=True)
class ParticipantRow:
    """One participant's line in the study's table (study ID only: no contact details)."""

    participant_id: int
    study_id: str
    channel: Channel
    # The language they read now ("en", "es").
    language: str
    status: ParticipantStatus
    at_risk: bool
    opted_out: bool
    response: ResponseRate
    median_reply: timedelta | None
    streaks: Streaks
    adherence: Adherence
    escalations: int
    symptom_reports: int


@dataclass(frozen=True)
class LanguageFigures:
    """The study's figures for the participants of one language."""

    language: str
    enrolled: int
    active: int
    response: ResponseRate
    median_reply: timedelta | None
    adherence: Adherence
    opted_out: int
    at_risk: int
    escalations: int
    symptom_reports: int

    @property
    def name(self) -> str:
        """The language as staff read it (Spanish)."""
        return STAFF_NAMES.get(self.language, self.language)


def figures_by_language(
    participants: Sequence[Participant],
    rows: Sequence[ParticipantRow],
    outcomes: Sequence[PromptOutcome],
) -> list[LanguageFigures]:
    """The figures split by the participants' language (every language, in order)."""
    row_of = {row.participant_id: row for row in rows}
    split = []
    for language, cohort in language_cohorts(participants).items():
        ids = {participant.id for participant in cohort}
        theirs = [row_of[owner] for owner in ids if owner in row_of]
        prompts = [outcome for outcome in outcomes if outcome.participant_id in ids]
        split.append(
            LanguageFigures(
                language=language,
                enrolled=len(cohort),
                active=sum(1 for item in cohort if item.status is ParticipantStatus.ACTIVE),
                response=response_rate(prompts),
                median_reply=median_reply_time(prompts),
                adherence=sum((row.adherence for row in theirs), Adherence()),
                opted_out=sum(1 for row in theirs if row.opted_out),
                at_risk=sum(1 for row in theirs if row.at_risk),
                escalations=sum(row.escalations for row in theirs),
                symptom_reports=sum(row.symptom_reports for row in theirs),
            )
        )
    return split


@dataclass(frozen=True)
class StudyFigures:
    """Every study-wide figure for a period, with the per-participant table and weekly series."""

    period: Period
    computed_at: datetime
    enrolled: int
    active: int
    response: ResponseRate
    median_reply: timedelta | None
    adherence: Adherence
    at_risk: list[AtRisk]
    departures: Departures
    escalations: list[LevelFigures]
    ratings: Ratings
    participants: list[ParticipantRow]
    weekly_response: list[WeekRate]
    weekly_escalations: list[WeekEscalations]
    weekly_grades: dict[str, list[WeekGrades]]
    # The figures of each language's participants.
    by_language: list[LanguageFigures]
    # Test traffic (web-chat visitors) was counted too, as asked.
    include_test: bool = False

    @property
    def longest_streak(self) -> int:
        """The longest run of missed check-ins of any participant in the period."""
        return max((row.streaks.longest for row in self.participants), default=0)


def _participants_until(session: Session, end: datetime, include_test: bool) -> list[Participant]:
    """Participants enrolled before a time (test traffic only if asked for), by study ID."""
    return list(
        session.execute(
            select(Participant)
            .where(Participant.enrolled_at < end, *participants_counted(include_test))
            .order_by(Participant.study_id)
        ).scalars()
    )


def _participant_rows(
    *,
    session: Session,
    period: Period,
    participants: Sequence[Participant],
    outcomes: Sequence[PromptOutcome],
    include_test: bool,
) -> list[ParticipantRow]:
    """The per-participant table."""
    by_owner: dict[int, list[PromptOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_owner[outcome.participant_id].append(outcome)
    streaks = missed_streaks(outcomes)
    doses = adherence_by_participant(session=session, period=period, include_test=include_test)
    escalations = escalation_counts(session=session, period=period)
    reports = symptom_report_counts(session=session, period=period)
    return [
        ParticipantRow(
            participant_id=participant.id,
            study_id=participant.study_id,
            channel=participant.channel,
            language=language_or_default(participant.language),
            status=participant.status,
            at_risk=participant.at_risk_since is not None,
            opted_out=participant.opted_out_at is not None,
            response=response_rate(by_owner[participant.id]),
            median_reply=median_reply_time(by_owner[participant.id]),
            streaks=streaks.get(participant.id, Streaks()),
            adherence=doses.get(participant.id, Adherence()),
            escalations=escalations.get(participant.id, 0),
            symptom_reports=reports.get(participant.id, 0),
        )
        for participant in participants
    ]


def study_figures(
    *,
    session: Session,
    period: Period,
    now: datetime,
    study: StudyConfig,
    include_test: bool = False,
) -> StudyFigures:
    """Every figure of the study for the period (as known at `now`); test traffic left out
    unless `include_test`."""
    counted = {"session": session, "period": period, "include_test": include_test}
    outcomes = prompt_outcomes(now=now, **counted)
    participants = _participants_until(session, period.end, include_test)
    rows = _participant_rows(participants=participants, outcomes=outcomes, **counted)
    return StudyFigures(
        period=period,
        computed_at=now,
        enrolled=len(participants),
        active=sum(1 for item in participants if item.status is ParticipantStatus.ACTIVE),
        response=response_rate(outcomes),
        median_reply=median_reply_time(outcomes),
        adherence=adherence(**counted),
        at_risk=at_risk_participants(session=session, include_test=include_test),
        departures=departures(**counted),
        escalations=escalations_by_level(study=study, **counted),
        ratings=feedback_ratings(**counted),
        participants=rows,
        weekly_response=weekly_response_rates(outcomes, period),
        weekly_escalations=weekly_escalations(**counted),
        weekly_grades=weekly_grade_distributions(**counted),
        by_language=figures_by_language(participants, rows, outcomes),
        include_test=include_test,
    )


@dataclass(frozen=True)
class ParticipantFigures:
    """One participant's figures for a period (keyed by study ID; no contact details)."""

    period: Period
    computed_at: datetime
    participant_id: int
    study_id: str
    channel: Channel
    # The language they read now ("en", "es").
    language: str
    status: ParticipantStatus
    timezone: str
    enrolled_at: datetime
    at_risk_since: datetime | None
    opted_out_at: datetime | None
    response: ResponseRate
    median_reply: timedelta | None
    streaks: Streaks
    adherence: Adherence
    escalations: list[LevelFigures]
    ratings: Ratings
    weekly_response: list[WeekRate]
    grades: dict[str, list[GradePoint]]


def participant_figures(
    *,
    session: Session,
    period: Period,
    now: datetime,
    study: StudyConfig,
    participant: Participant,
) -> ParticipantFigures:
    """Every figure of one participant for the period (as known at `now`)."""
    owner = participant.id
    outcomes = prompt_outcomes(session=session, period=period, now=now, participant_id=owner)
    return ParticipantFigures(
        period=period,
        computed_at=now,
        participant_id=participant.id,
        study_id=participant.study_id,
        channel=participant.channel,
        language=language_or_default(participant.language),
        status=participant.status,
        timezone=participant.timezone,
        enrolled_at=participant.enrolled_at,
        at_risk_since=participant.at_risk_since,
        opted_out_at=participant.opted_out_at,
        response=response_rate(outcomes),
        median_reply=median_reply_time(outcomes),
        streaks=missed_streaks(outcomes).get(owner, Streaks()),
        adherence=adherence(session=session, period=period, participant_id=owner),
        escalations=escalations_by_level(
            session=session, period=period, study=study, participant_id=owner
        ),
        ratings=feedback_ratings(session=session, period=period, participant_id=owner),
        weekly_response=weekly_response_rates(outcomes, period),
        grades=symptom_grades(session=session, period=period, participant_id=owner),
    )
