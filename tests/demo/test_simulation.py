"""Demo data: weeks of believable participants, once, the same for the same seed."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import (
    Channel,
    Direction,
    Escalation,
    EscalationLevel,
    EscalationStatus,
    EscalationType,
    Feedback,
    IncentiveEntry,
    MessageLog,
    OutreachStatus,
    Participant,
    ParticipantStatus,
    ScheduledMessage,
    SymptomReport,
)
from bot.db.session import get_engine, migrate
from bot.demo import simulation as demo_data
from bot.participants.enrollment import address_of
from bot.research.figures import Period, study_figures
from bot.study.config import current_study, load_study_config
from bot.study.wording import messages
from tests.conftest import EXAMPLE_STUDY
from tests.staff.conftest import staff_keys

__all__ = ["staff_keys"]

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def seeded(session: Session) -> demo_data.DemoSummary:
    summary = demo_data.seed(session=session, study=current_study(), now=NOW)
    session.commit()
    return summary


def count(session: Session, model: type, *where: object) -> int:
    return int(session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def test_twelve_participants_on_sms_and_telegram_with_encrypted_addresses(
    session: Session, seeded: demo_data.DemoSummary
) -> None:
    participants = list(
        session.execute(select(Participant).order_by(Participant.study_id)).scalars()
    )

    assert [item.study_id for item in participants] == [f"DEMO-{n:03d}" for n in range(1, 13)]
    assert Counter(item.channel for item in participants) == {Channel.SMS: 8, Channel.TELEGRAM: 4}
    assert Counter(item.language for item in participants) == {"en": 10, "es": 2}
    for participant, profile in zip(participants, demo_data.PROFILES, strict=True):
        assert (
            participant.address_encrypted and profile.address not in participant.address_encrypted
        )
        assert address_of(participant) == profile.address
        assert participant.enrollment_code is None
        if participant.channel is Channel.SMS:
            assert "555" in profile.address and profile.address[-4:-2] == "01"
    assert min(item.enrolled_at for item in participants) <= NOW - timedelta(weeks=5)


def test_spanish_speaking_participants_talk_and_are_answered_in_spanish(
    session: Session, seeded: demo_data.DemoSummary
) -> None:
    participant = session.execute(
        select(Participant).where(Participant.study_id == "DEMO-008")
    ).scalar_one()
    study = load_study_config(EXAMPLE_STUDY)
    texts = list(
        session.execute(
            select(MessageLog.text).where(
                MessageLog.participant_id == participant.id,
                MessageLog.direction == Direction.OUTBOUND,
            )
        ).scalars()
    )

    assert (participant.language, participant.language_source) == ("es", "enrollment")
    assert messages(study, "ask_checkin_feeling", language="es")[0] in texts
    assert messages(study, "ask_checkin_feeling")[0] not in texts


def test_daily_prompts_were_sent_and_answered_or_missed(
    session: Session, seeded: demo_data.DemoSummary
) -> None:
    prompts = count(
        session,
        ScheduledMessage,
        ScheduledMessage.kind == "checkin_prompt",
        ScheduledMessage.status == OutreachStatus.SENT,
    )
    period = Period(NOW - timedelta(weeks=7), NOW)
    figures = study_figures(session=session, period=period, now=NOW, study=current_study())

    assert prompts == seeded.prompts > 300
    assert 0.6 < (figures.response.rate or 0) < 0.9
    assert figures.median_reply is not None
    assert 0.6 < (figures.adherence.rate or 0) < 0.95
    assert figures.longest_streak >= 4
    assert count(session, MessageLog) == seeded.messages


def test_some_drift_to_at_risk_one_withdraws_one_opts_out(
    session: Session, seeded: demo_data.DemoSummary
) -> None:
    by_id = {item.study_id: item for item in session.execute(select(Participant)).scalars()}

    assert seeded.at_risk == ["DEMO-004", "DEMO-011"]
    assert by_id["DEMO-004"].at_risk_since is not None
    assert by_id["DEMO-007"].status is ParticipantStatus.WITHDRAWN
    assert by_id["DEMO-010"].opted_out_at is not None
    risk = session.execute(
        select(Escalation).where(Escalation.reason.contains("at risk of dropping out"))
    ).scalars()
    assert {item.participant_id for item in risk} >= {by_id["DEMO-004"].id, by_id["DEMO-011"].id}


def test_symptoms_worsen_and_escalations_of_every_level_are_handled(
    session: Session, seeded: demo_data.DemoSummary
) -> None:
    levels = Counter(session.execute(select(Escalation.level)).scalars())
    statuses = Counter(session.execute(select(Escalation.status)).scalars())
    types = set(session.execute(select(Escalation.type)).scalars())

    assert set(levels) == set(EscalationLevel)
    assert statuses[EscalationStatus.RESOLVED] > 0
    assert EscalationStatus.ACKNOWLEDGED in statuses or EscalationStatus.OPEN in statuses
    assert {
        EscalationType.SYMPTOM,
        EscalationType.EMERGENCY,
        EscalationType.WITHDRAWAL,
        EscalationType.HANDOFF,
    } <= types
    assert count(session, SymptomReport, SymptomReport.grade >= 3) > 0
    assert count(session, SymptomReport) == seeded.symptom_reports > 20
    assert count(session, Feedback) == seeded.feedback >= 6
    assert count(session, IncentiveEntry) > 0


def test_seeding_again_adds_nothing(session: Session, seeded: demo_data.DemoSummary) -> None:
    before = count(session, MessageLog)

    again = demo_data.seed(session=session, study=current_study(), now=NOW)

    assert again.skipped and again.participants == 0
    assert count(session, MessageLog) == before


def test_the_same_seed_gives_the_same_data(
    session: Session, seeded: demo_data.DemoSummary, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    migrate(url)
    with sessionmaker(bind=get_engine(url), future=True)() as other:
        summary = demo_data.seed(session=other, study=current_study(), now=NOW)
        other.commit()
        assert summary == seeded
        assert fingerprint(other) == fingerprint(session)


def fingerprint(session: Session) -> list[tuple]:
    """What was sent and reported when, by study ID (row IDs and codes differ)."""
    rows = session.execute(
        select(Participant.study_id, ScheduledMessage.kind, ScheduledMessage.sent_at)
        .join(Participant, Participant.id == ScheduledMessage.participant_id)
        .order_by(ScheduledMessage.sent_at, Participant.study_id, ScheduledMessage.kind)
    ).all()
    symptoms = session.execute(
        select(Participant.study_id, SymptomReport.symptom, SymptomReport.grade)
        .join(Participant, Participant.id == SymptomReport.participant_id)
        .order_by(SymptomReport.reported_at)
    ).all()
    return [tuple(row) for row in [*rows, *symptoms]]


def test_rasa_events_are_left_alone(session: Session, seeded: demo_data.DemoSummary) -> None:
    tables = inspect(session.get_bind()).get_table_names()

    assert "events" not in tables or count_events(session) == 0


def count_events(session: Session) -> int:
    return int(session.execute(text("SELECT COUNT(*) FROM events")).scalar_one())


def test_main_seeds_once(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo_data.main([]) == 0
    assert "Seeded 12 demo participants" in capsys.readouterr().out

    assert demo_data.main(["--seed", "7"]) == 0
    assert "nothing added" in capsys.readouterr().out
    assert count(session, Participant) == 12


def test_demo_answers_are_stored_as_the_check_in_would_read_them(
    session: Session, seeded: demo_data.DemoSummary
) -> None:
    """Each demo check-in's stored feeling is what the check-in form reads from the
    participant's own answer (1 Very bad ... 5 Great): "great" is 5, never 1."""
    from bot.actions.checkin import read_feeling
    from bot.db.models import Checkin, Direction
    from bot.study.wording import messages

    feeling_prompts = [
        messages(current_study(), "ask_checkin_feeling", language=code)[0] for code in ("en", "es")
    ]
    checked = 0
    for checkin in session.execute(select(Checkin)).scalars():
        if checkin.overall_feeling is None or checkin.completed_at is None:
            continue
        prompt = session.execute(
            select(MessageLog)
            .where(
                MessageLog.participant_id == checkin.participant_id,
                MessageLog.direction == Direction.OUTBOUND,
                MessageLog.created_at >= checkin.started_at,
                MessageLog.text.in_(feeling_prompts),
            )
            .order_by(MessageLog.created_at)
            .limit(1)
        ).scalar_one()
        answer = session.execute(
            select(MessageLog)
            .where(
                MessageLog.participant_id == checkin.participant_id,
                MessageLog.direction == Direction.INBOUND,
                MessageLog.created_at > prompt.created_at,
            )
            .order_by(MessageLog.created_at)
            .limit(1)
        ).scalar_one()
        assert read_feeling(answer.text) == checkin.overall_feeling, answer.text
        checked += 1
    assert checked > 50
    feelings = Counter(
        session.execute(select(Checkin.overall_feeling).where(Checkin.overall_feeling.is_not(None)))
        .scalars()
        .all()
    )
    assert sum(feelings[value] for value in (4, 5)) > sum(feelings[value] for value in (1, 2))
