"""The embedded demo: seeded once, console users made once with passwords shown once."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.alerts.coverage import alert_coverage_problems
from bot.alerts.planning import FIRST, plan_round
from bot.core.crypto import decrypt
from bot.core.settings import get_settings
from bot.db.models import AlertChannel, EscalationLevel, Participant, StaffUser
from bot.db.session import migrate, session_scope
from bot.demo.seed import prepare_demo
from bot.study.config import current_study


def test_first_run_seeds_and_makes_users_then_never_again(database_url: str) -> None:
    settings = get_settings()
    if not settings.is_sqlite:
        assert prepare_demo(settings) == []
        return
    migrate()

    first = prepare_demo(settings)
    second = prepare_demo(settings)

    assert first[0].startswith("Demo data:")
    assert any("demo.researcher" in line for line in first)
    assert second == []
    with session_scope() as session:
        # One per role, and the example study's alert team: nurse.kim, dr.okafor, maria.lopez.
        assert session.execute(select(func.count(StaffUser.id))).scalar_one() == 6
        # The passwords were printed: each is one-time.
        assert all(session.execute(select(StaffUser.must_change_password)).scalars())
        assert session.execute(select(func.count(Participant.id))).scalar_one() > 5


def test_no_demo_when_turned_off(database_url: str, monkeypatch) -> None:
    monkeypatch.setenv("DEMO_DATA", "false")
    get_settings.cache_clear()

    assert prepare_demo(get_settings()) == []


def test_the_study_team_is_made_with_fictional_addresses_and_alerts_reach_them(
    database_url: str,
) -> None:
    settings = get_settings()
    if not settings.is_sqlite:
        return
    migrate()

    lines = prepare_demo(settings)

    assert any("nurse.kim" in line for line in lines)
    with session_scope() as session:
        team = {
            user.username: user
            for user in session.execute(select(StaffUser)).scalars()
            if user.phone_encrypted
        }
        assert sorted(team) == ["dr.okafor", "maria.lopez", "nurse.kim"]
        kim = team["nurse.kim"]
        assert kim.display_name == "Nurse Kim"
        assert decrypt(kim.phone_encrypted or "") == "+12025550101"  # 555-01xx: fiction
        assert decrypt(kim.telegram_chat_id_encrypted or "") == "5550101"
        study = current_study()
        assert alert_coverage_problems(session=session, study=study, settings=settings) == []
        first = plan_round(
            session=session,
            study=study,
            level=EscalationLevel.EMERGENCY,
            round_number=FIRST,
            enabled=frozenset(AlertChannel),
        )
        assert {(target.channel.value, target.recipient) for target in first} == {
            ("console", "queue"),
            ("console", "staff:nurse.kim"),
            ("sms", "staff:nurse.kim"),
            ("telegram", "staff:nurse.kim"),
            ("telegram", "group chat"),
        }
