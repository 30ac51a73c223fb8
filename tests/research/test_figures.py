"""Engagement figures on a hand-built data set whose answers are worked out in the comments."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

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
from bot.db.repository import enroll_participant
from bot.research import figures
from bot.research.figures import (
    Adherence,
    AtRisk,
    GradePoint,
    Period,
    PromptOutcome,
    Streaks,
    WeekGrades,
)
from bot.study.config import StudyConfig

# Two weeks, Monday 2025-03-03 to Sunday 2025-03-16 (UTC), looked at on Sunday evening.
NOW = datetime(2025, 3, 16, 20, 0, tzinfo=timezone.utc)
PERIOD = Period.from_dates(date(2025, 3, 3), date(2025, 3, 16), now=NOW)
STUDY = StudyConfig()  # response targets: emergency 5 min, urgent 15 min, routine 1440 min


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    """A UTC time in 2025."""
    return datetime(2025, month, day, hour, minute, tzinfo=timezone.utc)


class Builder:
    """Adds rows for the fixture data set."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.codes = 0

    def participant(self, study_id: str, **values: object) -> Participant:
        participant = enroll_participant(
            session=self.session, study_id=study_id, channel=Channel.SMS, timezone="UTC"
        )
        participant.enrolled_at = at(1, 9, month=2)
        for name, value in values.items():
            setattr(participant, name, value)
        return participant

    def prompt(
        self,
        participant: Participant,
        sent_at: datetime,
        *,
        status: OutreachStatus = OutreachStatus.SENT,
        kind: str = "checkin_prompt",
    ) -> None:
        self.session.add(
            ScheduledMessage(
                participant_id=participant.id,
                kind=kind,
                due_at=sent_at,
                dedupe_key=f"{kind}:{participant.id}:{sent_at.isoformat()}",
                status=status,
                sent_at=sent_at if status is OutreachStatus.SENT else None,
            )
        )

    def checkin(
        self,
        participant: Participant,
        completed_at: datetime | None,
        status: CheckinStatus = CheckinStatus.COMPLETED,
    ) -> None:
        started = (completed_at or at(7, 19)) - timedelta(minutes=3)
        self.session.add(
            Checkin(
                participant_id=participant.id,
                status=status,
                started_at=started,
                completed_at=completed_at,
            )
        )

    def inbound(self, participant: Participant, when: datetime, *, linked: bool = True) -> None:
        self.session.add(
            MessageLog(
                participant_id=participant.id if linked else None,
                sender_id=participant.sender_id,
                channel=Channel.SMS,
                direction=Direction.INBOUND,
                text="ok",
                created_at=when,
            )
        )

    def outbound(self, participant: Participant, when: datetime) -> None:
        self.session.add(
            MessageLog(
                participant_id=participant.id,
                sender_id=participant.sender_id,
                channel=Channel.SMS,
                direction=Direction.OUTBOUND,
                text="Hi! It is time for your check-in.",
                created_at=when,
            )
        )

    def dose(self, participant: Participant, taken: str, when: datetime) -> None:
        self.session.add(
            DoseReport(
                participant_id=participant.id, taken=taken, source="checkin", reported_at=when
            )
        )

    def escalation(
        self,
        participant: Participant,
        level: EscalationLevel,
        created_at: datetime,
        ack_after: timedelta | None,
        *,
        type: EscalationType = EscalationType.SYMPTOM,
    ) -> None:
        self.codes += 1
        acknowledged = ack_after is not None
        self.session.add(
            Escalation(
                participant_id=participant.id,
                level=level,
                type=type,
                reason="fixture",
                status=EscalationStatus.ACKNOWLEDGED if acknowledged else EscalationStatus.OPEN,
                created_at=created_at,
                acknowledged_at=created_at + ack_after if ack_after is not None else None,
                acknowledged_by="joy" if acknowledged else None,
                ack_code=f"CODE{self.codes:02d}",
            )
        )

    def feedback(self, participant: Participant, rating: int | None, when: datetime) -> None:
        self.session.add(Feedback(participant_id=participant.id, rating=rating, created_at=when))

    def symptom(
        self, participant: Participant, symptom: str, grade: int | None, when: datetime
    ) -> None:
        self.session.add(
            SymptomReport(
                participant_id=participant.id, symptom=symptom, grade=grade, reported_at=when
            )
        )


@pytest.fixture
def data(session: Session) -> dict[str, Participant]:
    """The fixture data set (see each block for what it should count as)."""
    build = Builder(session)
    a = build.participant("P-A")
    b = build.participant("P-B")
    c = build.participant("P-C", at_risk_since=at(8, 18))
    d = build.participant(
        "P-D", status=ParticipantStatus.WITHDRAWN, opted_out_at=at(5, 12), at_risk_since=at(4, 18)
    )
    e = build.participant("P-E", opted_out_at=at(20, 12, month=2))
    session.flush()

    # P-A: a prompt every day at 18:00, 3 to 9 March.
    for day in range(3, 10):
        build.prompt(a, at(day, 18))
        build.outbound(a, at(day, 18))
    build.inbound(a, at(3, 18, 10))  # reply after 10 min
    build.checkin(a, at(3, 18, 30))  # 3 Mar: answered
    build.inbound(a, at(5, 16, 50))  # reply after 22 h 50 min
    build.checkin(a, at(5, 17, 0))  # 4 Mar: answered (before the next prompt at 18:00)
    # 5 and 6 Mar: missed, nothing at all.
    build.inbound(a, at(7, 19, 0), linked=False)  # 7 Mar: reply after 1 h (found by sender)...
    build.checkin(a, None, CheckinStatus.PAUSED)  # ... but only a paused check-in: missed
    build.inbound(a, at(8, 19, 30))  # reply after 1 h 30 min
    build.checkin(a, at(8, 20, 0))  # 8 Mar: answered
    # 9 Mar: missed. P-A: 3 of 7 answered; missed 3 in a row at most, 1 now.

    # P-B
    build.prompt(b, at(2, 18))  # before the period: not counted
    build.checkin(b, at(3, 10))  # answers that earlier prompt only
    build.prompt(b, at(10, 18))
    build.inbound(b, at(10, 18, 2))  # reply after 2 min
    build.checkin(b, at(10, 18, 5))  # 10 Mar: answered
    build.prompt(b, at(11, 18))
    build.inbound(b, at(12, 19, 0))  # 25 h later: outside the window, no reply counted
    build.checkin(b, at(12, 19, 0))  # 11 Mar: missed (too late)
    build.prompt(b, at(12, 18), status=OutreachStatus.FAILED)  # never sent: not counted
    build.prompt(b, at(11, 20), kind="checkin_nudge")  # a nudge is not a prompt
    build.prompt(b, at(16, 18))  # 16 Mar: still open at NOW (20:00): pending
    build.prompt(b, at(17, 1))  # after the period; it ends the 16 Mar window at 01:00

    # Doses in the period: yes, yes, no, some (P-A) and yes (P-B) -> 3 of 5.
    for taken, day in (("yes", 3), ("yes", 4), ("no", 6), ("some", 8)):
        build.dose(a, taken, at(day, 19))
    build.dose(b, "yes", at(10, 18, 5))
    build.dose(a, "no", at(1, 12))  # before the period
    build.dose(b, "no", at(17, 0))  # the period's end is excluded

    # Escalations raised in the period.
    build.escalation(a, EscalationLevel.EMERGENCY, at(4, 10), timedelta(minutes=3))
    build.escalation(a, EscalationLevel.URGENT, at(5, 10), timedelta(minutes=20))
    build.escalation(b, EscalationLevel.URGENT, at(11, 10), timedelta(minutes=10))
    build.escalation(b, EscalationLevel.URGENT, at(12, 10), None)
    build.escalation(b, EscalationLevel.ROUTINE, at(13, 10), timedelta(hours=2))
    build.escalation(
        d,
        EscalationLevel.ROUTINE,
        at(6, 10),
        timedelta(hours=30),
        type=EscalationType.WITHDRAWAL,
    )
    build.escalation(a, EscalationLevel.URGENT, at(28, 10, month=2), None)  # before the period

    # Feedback: 5, 4 and 2 in the period.
    build.feedback(a, 5, at(4, 12))
    build.feedback(a, 4, at(12, 12))
    build.feedback(b, 2, at(14, 12))
    build.feedback(b, None, at(14, 13))  # a comment without a rating
    build.feedback(b, 1, at(1, 12, month=2))  # before the period

    # Symptoms.
    build.symptom(a, "cough", 1, at(3, 18, 20))
    build.symptom(a, "nausea", 2, at(5, 17))
    build.symptom(a, "cough", 3, at(8, 19, 50))
    build.symptom(a, "cough", None, at(9, 10))  # did not fit the scale: not plotted
    build.symptom(b, "cough", 4, at(12, 19))
    session.commit()
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


# --- the period ---------------------------------------------------------------------------


def test_period_from_dates_covers_whole_utc_days() -> None:
    period = Period.from_dates(date(2025, 3, 3), date(2025, 3, 16), now=NOW)

    assert period.start == at(3, 0)
    assert period.end == at(17, 0)
    assert period.last_day == date(2025, 3, 16)
    assert period.label == "2025-03-03 to 2025-03-16 (UTC)"
    assert period.weeks() == [date(2025, 3, 3), date(2025, 3, 10)]


def test_period_without_a_last_day_ends_now_and_weeks_start_on_monday() -> None:
    period = Period.from_dates(date(2025, 3, 5), None, now=NOW)

    assert period.end == NOW
    assert period.weeks() == [date(2025, 3, 3), date(2025, 3, 10)]


def test_period_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="end after"):
        Period.from_dates(date(2025, 3, 5), date(2025, 3, 4), now=NOW)


# --- check-in prompts ---------------------------------------------------------------------


def test_prompt_outcomes_follow_the_definition(session: Session, data: dict) -> None:
    outcomes = figures.prompt_outcomes(session=session, period=PERIOD, now=NOW)
    a = [item for item in outcomes if item.participant_id == data["a"].id]
    b = [item for item in outcomes if item.participant_id == data["b"].id]

    assert [item.answered for item in a] == [True, True, False, False, False, True, False]
    assert all(item.decided for item in a)
    assert [item.sent_at for item in b] == [at(10, 18), at(11, 18), at(16, 18)]
    assert [(item.answered, item.decided) for item in b] == [
        (True, True),
        (False, True),
        (False, False),
    ]
    # The 16 Mar window ends at the next prompt (01:00), not 24 h later.
    assert b[2].window_end == at(17, 1)
    assert a[1].window_end == at(5, 18)


def test_response_rate_leaves_pending_prompts_out(session: Session, data: dict) -> None:
    outcomes = figures.prompt_outcomes(session=session, period=PERIOD, now=NOW)

    rate = figures.response_rate(outcomes)

    assert (rate.sent, rate.decided, rate.answered, rate.missed, rate.pending) == (10, 9, 4, 5, 1)
    assert rate.rate == pytest.approx(4 / 9)


def test_once_the_window_closes_the_pending_prompt_counts_as_missed(
    session: Session, data: dict
) -> None:
    later = at(18, 12)

    rate = figures.response_rate(figures.prompt_outcomes(session=session, period=PERIOD, now=later))

    assert (rate.decided, rate.answered) == (10, 4)


def test_median_time_to_reply(session: Session, data: dict) -> None:
    outcomes = figures.prompt_outcomes(session=session, period=PERIOD, now=NOW)

    # Replies: 2 min (P-B), 10 min, 60 min, 90 min, 1370 min (P-A) -> the middle one.
    assert figures.median_reply_time(outcomes) == minutes(60)
    mine = [item for item in outcomes if item.participant_id == data["a"].id]
    assert figures.median_reply_time(mine) == minutes(75)  # (60 + 90) / 2


def test_missed_streaks(session: Session, data: dict) -> None:
    outcomes = figures.prompt_outcomes(session=session, period=PERIOD, now=NOW)

    streaks = figures.missed_streaks(outcomes)

    assert streaks[data["a"].id] == Streaks(longest=3, current=1)
    assert streaks[data["b"].id] == Streaks(longest=1, current=1)  # the pending one is skipped
    assert data["c"].id not in streaks


def test_weekly_response_rates(session: Session, data: dict) -> None:
    outcomes = figures.prompt_outcomes(session=session, period=PERIOD, now=NOW)

    weeks = figures.weekly_response_rates(outcomes, PERIOD)

    assert [(week.week, week.decided, week.answered) for week in weeks] == [
        (date(2025, 3, 3), 7, 3),
        (date(2025, 3, 10), 2, 1),
    ]
    assert [week.rate for week in weeks] == [pytest.approx(3 / 7), 0.5]
    assert all(week.participants for week in weeks)


def test_streaks_and_rates_of_plain_data() -> None:
    def outcome(missed: bool, decided: bool = True) -> PromptOutcome:
        return PromptOutcome(
            participant_id=1,
            sent_at=NOW,
            window_end=NOW,
            completed_at=None if missed else NOW,
            replied_at=None,
            decided=decided,
        )

    assert figures.response_rate([]).rate is None
    assert figures.median_reply_time([]) is None
    flags = [True, True, False, True, True, True, False, True]
    assert figures._streaks(flags) == Streaks(longest=3, current=1)
    assert figures._streaks([]) == Streaks(0, 0)
    assert figures.response_rate([outcome(False), outcome(True), outcome(True, False)]).rate == 0.5


# --- doses, retention, escalations, feedback ------------------------------------------


def test_adherence(session: Session, data: dict) -> None:
    result = figures.adherence(session=session, period=PERIOD)

    assert result == Adherence(reports=5, taken=3, some=1, not_taken=1)
    assert result.rate == pytest.approx(0.6)
    mine = figures.adherence(session=session, period=PERIOD, participant_id=data["a"].id)
    assert (mine.reports, mine.rate) == (4, 0.5)


def test_at_risk_is_active_participants_flagged_now(session: Session, data: dict) -> None:
    assert figures.at_risk_participants(session=session) == [AtRisk("P-C", at(8, 18))]


def test_opt_outs_and_withdrawals(session: Session, data: dict) -> None:
    result = figures.departures(session=session, period=PERIOD)

    assert result.opted_out_in_period == ["P-D"]
    assert result.opted_out_now == 2
    assert result.withdrawn_now == ["P-D"]
    assert result.withdrawal_requests == 1
    assert result.completed_now == 0


def test_escalations_by_level_and_time_to_acknowledge(session: Session, data: dict) -> None:
    emergency, urgent, routine = figures.escalations_by_level(
        session=session, period=PERIOD, study=STUDY
    )

    assert emergency.level is EscalationLevel.EMERGENCY
    assert (emergency.raised, emergency.acknowledged, emergency.within_target) == (1, 1, 1)
    assert emergency.median_time_to_acknowledge == minutes(3)
    assert (urgent.raised, urgent.acknowledged, urgent.within_target, urgent.open_now) == (
        3,
        2,
        1,
        1,
    )
    assert urgent.median_time_to_acknowledge == minutes(15)  # (20 + 10) / 2
    assert urgent.target == minutes(15)
    assert (routine.raised, routine.acknowledged, routine.within_target) == (2, 2, 1)
    assert routine.median_time_to_acknowledge == minutes(960)  # (120 + 1800) / 2


def test_weekly_escalations(session: Session, data: dict) -> None:
    weeks = figures.weekly_escalations(session=session, period=PERIOD)

    assert [week.week for week in weeks] == [date(2025, 3, 3), date(2025, 3, 10)]
    assert weeks[0].counts == {
        EscalationLevel.EMERGENCY: 1,
        EscalationLevel.URGENT: 1,
        EscalationLevel.ROUTINE: 1,
    }
    assert weeks[1].counts == {
        EscalationLevel.EMERGENCY: 0,
        EscalationLevel.URGENT: 2,
        EscalationLevel.ROUTINE: 1,
    }


def test_feedback_ratings(session: Session, data: dict) -> None:
    ratings = figures.feedback_ratings(session=session, period=PERIOD)

    assert ratings.count == 3
    assert ratings.mean == pytest.approx(11 / 3)
    assert ratings.median == 4.0
    assert ratings.by_rating == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}


def test_feedback_ratings_with_none_given(session: Session) -> None:
    ratings = figures.feedback_ratings(session=session, period=PERIOD)

    assert (ratings.count, ratings.mean, ratings.median) == (0, None, None)


# --- symptoms -----------------------------------------------------------------------------


def test_a_participants_symptom_grades(session: Session, data: dict) -> None:
    series = figures.symptom_grades(session=session, period=PERIOD, participant_id=data["a"].id)

    assert series == {
        "cough": [GradePoint(at(3, 18, 20), 1.0), GradePoint(at(8, 19, 50), 3.0)],
        "nausea": [GradePoint(at(5, 17), 2.0)],
    }


def test_weekly_grade_distributions_count_reports_per_grade(session: Session, data: dict) -> None:
    series = figures.weekly_grade_distributions(session=session, period=PERIOD)

    a, b = data["a"].id, data["b"].id
    assert series == {
        "cough": [
            WeekGrades(date(2025, 3, 3), (0, 1, 0, 1, 0), frozenset({a})),
            WeekGrades(date(2025, 3, 10), (0, 0, 0, 0, 1), frozenset({b})),
        ],
        "nausea": [
            WeekGrades(date(2025, 3, 3), (0, 0, 1, 0, 0), frozenset({a})),
            WeekGrades(date(2025, 3, 10), (0, 0, 0, 0, 0)),
        ],
    }
    limited = figures.weekly_grade_distributions(session=session, period=PERIOD, limit=1)
    assert limited.keys() == {"cough"}


def test_a_weeks_grade_shares_sum_to_one_and_keep_n() -> None:
    week = WeekGrades(date(2025, 3, 3), (1, 2, 0, 0, 1))

    assert week.n == 4
    assert week.shares == (0.25, 0.5, 0.0, 0.0, 0.25)
    assert sum(week.shares) == pytest.approx(1.0)


def test_a_week_without_reports_is_a_gap_not_a_zero() -> None:
    week = WeekGrades(date(2025, 3, 10), (0, 0, 0, 0, 0))

    assert (week.n, week.shares) == (0, None)


def test_no_mean_of_grades_is_offered() -> None:
    assert not hasattr(figures, "weekly_mean_grades")
    assert "mean" not in " ".join(name.lower() for name in vars(WeekGrades))


@pytest.mark.parametrize(
    ("moment", "monday", "label"),
    [
        (datetime(2026, 11, 29, 23, 59, tzinfo=timezone.utc), date(2026, 11, 23), "2026-W48"),
        (datetime(2026, 11, 30, 0, 0, tzinfo=timezone.utc), date(2026, 11, 30), "2026-W49"),
        (datetime(2025, 12, 28, 12, tzinfo=timezone.utc), date(2025, 12, 22), "2025-W52"),
        (datetime(2025, 12, 29, 12, tzinfo=timezone.utc), date(2025, 12, 29), "2026-W01"),
        (datetime(2026, 1, 4, 23, tzinfo=timezone.utc), date(2025, 12, 29), "2026-W01"),
        (datetime(2020, 12, 31, tzinfo=timezone.utc), date(2020, 12, 28), "2020-W53"),
    ],
)
def test_weeks_are_iso_weeks(moment: datetime, monday: date, label: str) -> None:
    assert figures.week_start(moment) == monday
    assert figures.iso_week_label(figures.week_start(moment)) == label


def test_a_sunday_and_the_next_monday_fall_in_different_weeks() -> None:
    sunday = datetime(2026, 11, 29, 23, 30, tzinfo=timezone.utc)
    monday = sunday + timedelta(hours=1)

    assert figures.week_start(monday) - figures.week_start(sunday) == timedelta(days=7)


def test_a_week_in_another_zone_is_binned_by_its_utc_time() -> None:
    eastern = timezone(timedelta(hours=-5))
    sunday_evening_there = datetime(2026, 11, 29, 20, 0, tzinfo=eastern)  # Monday 01:00 UTC

    assert figures.week_start(sunday_evening_there) == date(2026, 11, 30)


def test_a_period_across_new_year_lists_every_week_in_order() -> None:
    period = Period.from_dates(date(2025, 12, 20), date(2026, 1, 10), now=NOW)

    labels = [figures.iso_week_label(week) for week in period.weeks()]

    assert labels == ["2025-W51", "2025-W52", "2026-W01", "2026-W02"]


# --- the whole page -----------------------------------------------------------------------


def test_study_figures_put_it_together(session: Session, data: dict) -> None:
    result = figures.study_figures(session=session, period=PERIOD, now=NOW, study=STUDY)

    assert (result.enrolled, result.active) == (5, 4)
    assert result.response.rate == pytest.approx(4 / 9)
    assert result.median_reply == minutes(60)
    assert result.longest_streak == 3
    rows = {row.study_id: row for row in result.participants}
    assert list(rows) == ["P-A", "P-B", "P-C", "P-D", "P-E"]
    a = rows["P-A"]
    assert (a.response.answered, a.response.decided) == (3, 7)
    assert a.median_reply == minutes(75)
    assert a.streaks == Streaks(3, 1)
    assert a.adherence.rate == 0.5
    assert (a.escalations, a.symptom_reports) == (2, 4)
    assert rows["P-C"].at_risk and rows["P-C"].response.rate is None
    assert rows["P-D"].opted_out and rows["P-D"].status is ParticipantStatus.WITHDRAWN


def test_participant_figures(session: Session, data: dict) -> None:
    result = figures.participant_figures(
        session=session, period=PERIOD, now=NOW, study=STUDY, participant=data["b"]
    )

    assert result.study_id == "P-B"
    assert (result.response.sent, result.response.decided, result.response.answered) == (3, 2, 1)
    assert result.median_reply == minutes(2)
    assert result.streaks == Streaks(1, 1)
    assert result.adherence.rate == 1.0
    assert [row.raised for row in result.escalations] == [0, 2, 1]
    assert result.ratings.count == 1
    assert result.grades == {"cough": [GradePoint(at(12, 19), 4.0)]}


def test_study_figures_split_by_language(session: Session, data: dict) -> None:
    for key in ("b", "d"):
        data[key].language = "es"
    session.commit()

    result = figures.study_figures(session=session, period=PERIOD, now=NOW, study=STUDY)

    english, spanish = result.by_language
    assert (english.language, english.name, spanish.language, spanish.name) == (
        "en",
        "English",
        "es",
        "Spanish",
    )
    assert (english.enrolled, english.active, spanish.enrolled, spanish.active) == (3, 3, 2, 1)
    assert (english.response.answered, english.response.decided) == (3, 7)
    assert (spanish.response.sent, spanish.response.decided, spanish.response.answered) == (
        3,
        2,
        1,
    )
    assert (english.median_reply, spanish.median_reply) == (minutes(75), minutes(2))
    assert (english.adherence.rate, spanish.adherence.rate) == (0.5, 1.0)
    assert (english.opted_out, english.at_risk, spanish.opted_out, spanish.at_risk) == (1, 1, 1, 1)
    assert (english.escalations, spanish.escalations) == (2, 4)
    assert (english.symptom_reports, spanish.symptom_reports) == (4, 1)
    # The split adds up to the whole.
    assert english.response.answered + spanish.response.answered == result.response.answered
    assert english.adherence + spanish.adherence == result.adherence
    assert {row.study_id: row.language for row in result.participants} == {
        "P-A": "en",
        "P-B": "es",
        "P-C": "en",
        "P-D": "es",
        "P-E": "en",
    }


def test_with_nobody_in_a_language_its_row_is_empty(session: Session, data: dict) -> None:
    result = figures.study_figures(session=session, period=PERIOD, now=NOW, study=STUDY)

    [spanish] = [row for row in result.by_language if row.language == "es"]
    assert (spanish.enrolled, spanish.response.sent, spanish.response.rate) == (0, 0, None)
    assert spanish.median_reply is None and spanish.adherence.rate is None
