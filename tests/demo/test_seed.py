"""The embedded demo: seeded once, console users made once with passwords shown once."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.core.settings import get_settings
from bot.db.models import Participant, StaffUser
from bot.db.session import migrate, session_scope
from bot.demo.seed import prepare_demo


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
        assert session.execute(select(func.count(StaffUser.id))).scalar_one() == 3
        assert session.execute(select(func.count(Participant.id))).scalar_one() > 5


def test_no_demo_when_turned_off(database_url: str, monkeypatch) -> None:
    monkeypatch.setenv("DEMO_DATA", "false")
    get_settings.cache_clear()

    assert prepare_demo(get_settings()) == []
