"""Test traffic (web-chat visitors, `participants.is_test`) stays out of figures, plots, the
report and the export unless asked for; asked for, it is counted like everyone else.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bot.db.models import Channel, EscalationLevel, EscalationType, Participant
from bot.research import figures
from bot.research.export import DICTIONARY_FILE
from bot.research.report import main as report_main
from bot.research.report import write_report
from bot.study.config import current_study
from tests.research.test_export import FILES, export_folder
from tests.research.test_figures import NOW, PERIOD, STUDY, Builder, at


@pytest.fixture
def both(session: Session) -> dict[str, Participant]:
    """P-REAL (SMS) and WEB-TEST (web chat, test traffic), each with a bit of everything."""
    build = Builder(session)
    real = build.participant("P-REAL", at_risk_since=at(8, 18))
    test = build.participant(
        "WEB-TEST",
        channel=Channel.WEB,
        is_test=True,
        at_risk_since=at(8, 18),
        opted_out_at=at(5, 12),
    )
    session.flush()
    for who in (real, test):
        build.prompt(who, at(3, 18))
        build.inbound(who, at(3, 18, 10))
        build.checkin(who, at(3, 18, 30))
        build.dose(who, "yes", at(4, 9))
        build.escalation(who, EscalationLevel.URGENT, at(5, 10), timedelta(minutes=5))
        build.feedback(who, 5, at(6, 12))
        build.symptom(who, "nausea", 2, at(6, 13))
    # The visitor's extra answers would move every figure they were counted in.
    build.prompt(test, at(4, 18))
    build.dose(test, "no", at(4, 10))
    build.escalation(
        test, EscalationLevel.EMERGENCY, at(5, 11), None, type=EscalationType.WITHDRAWAL
    )
    build.feedback(test, 1, at(6, 14))
    build.symptom(test, "nausea", 4, at(6, 15))
    session.commit()
    return {"real": real, "test": test}


def test_study_figures_leave_test_traffic_out(session: Session, both: dict) -> None:
    result = figures.study_figures(session=session, period=PERIOD, now=NOW, study=STUDY)

    assert [row.study_id for row in result.participants] == ["P-REAL"]
    assert (result.enrolled, result.active) == (1, 1)
    assert (result.response.sent, result.response.answered) == (1, 1)
    assert result.median_reply == timedelta(minutes=10)
    assert (result.adherence.reports, result.adherence.taken) == (1, 1)
    assert [item.study_id for item in result.at_risk] == ["P-REAL"]
    assert result.departures.opted_out_in_period == []
    assert result.departures.withdrawal_requests == 0
    assert sum(level.raised for level in result.escalations) == 1
    assert (result.ratings.count, result.ratings.mean) == (1, 5.0)
    assert sum(week.total for week in result.weekly_escalations) == 1
    assert sum(week.n for week in result.weekly_grades["nausea"]) == 1
    assert not result.include_test


def test_asked_for_test_traffic_is_counted(session: Session, both: dict) -> None:
    result = figures.study_figures(
        session=session, period=PERIOD, now=NOW, study=STUDY, include_test=True
    )

    assert [row.study_id for row in result.participants] == ["P-REAL", "WEB-TEST"]
    assert result.enrolled == 2
    assert result.response.sent == 3
    assert (result.adherence.reports, result.adherence.taken) == (3, 2)
    assert [item.study_id for item in result.at_risk] == ["P-REAL", "WEB-TEST"]
    assert result.departures.opted_out_in_period == ["WEB-TEST"]
    assert result.departures.withdrawal_requests == 1
    assert sum(level.raised for level in result.escalations) == 3
    assert result.ratings.count == 3
    assert sum(week.n for week in result.weekly_grades["nausea"]) == 3
    test_row = next(row for row in result.participants if row.study_id == "WEB-TEST")
    assert (test_row.adherence.reports, test_row.escalations) == (2, 2)
    assert result.include_test


def test_a_named_test_participant_still_has_their_figures(session: Session, both: dict) -> None:
    result = figures.participant_figures(
        session=session, period=PERIOD, now=NOW, study=STUDY, participant=both["test"]
    )

    assert result.study_id == "WEB-TEST"
    assert result.adherence.reports == 2
    assert sum(level.raised for level in result.escalations) == 2


def test_the_plots_data_leaves_test_traffic_out(session: Session, both: dict) -> None:
    outcomes = figures.prompt_outcomes(session=session, period=PERIOD, now=NOW)
    with_test = figures.prompt_outcomes(session=session, period=PERIOD, now=NOW, include_test=True)
    weeks = figures.weekly_escalations(session=session, period=PERIOD)

    assert {outcome.participant_id for outcome in outcomes} == {both["real"].id}
    assert len(with_test) == 3
    assert sum(week.total for week in weeks) == 1


def test_the_export_leaves_test_traffic_out_unless_asked(
    session: Session, both: dict, tmp_path: Path
) -> None:
    default = export_folder(session, tmp_path / "default")
    asked = export_folder(session, tmp_path / "asked", include_test=True)

    for name in sorted(FILES - {DICTIONARY_FILE}):
        assert {row["study_id"] for row in default[name]} == {"P-REAL"}, name
        assert {row["study_id"] for row in asked[name]} == {"P-REAL", "WEB-TEST"}, name
    assert "WEB-TEST" not in "".join(path.read_text() for path in (tmp_path / "default").iterdir())


def test_the_report_leaves_test_traffic_out_unless_asked(
    session: Session, both: dict, tmp_path: Path
) -> None:
    study = current_study()
    write_report(session=session, study=study, period=PERIOD, out=tmp_path / "a.html", now=NOW)
    session.commit()
    default = (tmp_path / "a.html").read_text()
    assert (
        report_main(
            [
                "--since",
                "2025-03-03",
                "--until",
                "2025-03-16",
                "--out",
                str(tmp_path / "b.html"),
                "--include-test",
            ]
        )
        == 0
    )
    asked = (tmp_path / "b.html").read_text()

    assert "WEB-TEST" not in default and "P-REAL" in default
    assert "Test traffic (web-chat visitors) is\nleft out." in default
    assert "WEB-TEST" in asked
    assert "Test traffic (web-chat visitors) is\nincluded." in asked
