"""Every alert level reaches someone, or start-up and the console say so (bot.alerts.coverage)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.alerts.coverage import alert_coverage_problems
from bot.alerts.worker import AlertWorker
from bot.core.settings import get_settings
from bot.db.models import StaffUser
from bot.db.session import session_scope
from bot.study.config import current_study
from bot.supervisor import alert_problems
from tests.alerts.support import alerts_section, write_study


def problems() -> list[str]:
    with session_scope() as session:
        return alert_coverage_problems(
            session=session, study=current_study(), settings=get_settings()
        )


def use_alerts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    study = write_study(tmp_path / "changed.yml", alerts_section(**changes))
    monkeypatch.setenv("STUDY_CONFIG", str(study))
    get_settings.cache_clear()


def test_a_team_with_phones_and_chats_covers_every_level(staff: dict[str, StaffUser]) -> None:
    assert problems() == []


def test_named_people_who_are_not_users_reach_nobody(alert_env: str) -> None:
    found = problems()

    assert found == [
        "emergency alerts reach nobody in the first round (joy: not an active console user "
        "who may act); backup round (bob: not an active console user who may act); "
        "everyone round (joy, bob, cara: not an active console user who may act)",
        "urgent alerts reach nobody in the first round (joy: not an active console user "
        "who may act); backup round (bob: not an active console user who may act); "
        "everyone round (joy, bob, cara: not an active console user who may act)",
        "routine alerts reach nobody in the first round (joy: not an active console user "
        "who may act)",
    ]


UNVERIFIED = (
    "no verified address for telegram or sms (each verifies theirs on their console account page)"
)


@pytest.mark.parametrize(
    ("joy_now", "reason"),
    [
        (
            {"phone_encrypted": None, "telegram_chat_id_encrypted": None},
            "no address for telegram or sms",
        ),
        ({"phone_verified_at": None, "telegram_chat_verified_at": None}, UNVERIFIED),
    ],
    ids=["no address", "addresses nobody verified"],
)
def test_an_on_call_nurse_without_a_verified_address_is_unreachable_once_paging_is_on(
    staff: dict[str, StaffUser], joy_now: dict[str, object], reason: str
) -> None:
    with session_scope() as session:
        session.execute(update(StaffUser).where(StaffUser.username == "joy").values(**joy_now))

    assert problems() == [
        f"emergency alerts reach nobody in the first round (joy: {reason})",
        f"urgent alerts reach nobody in the first round (joy: {reason})",
    ]  # routine alerts go to the console only: Joy sees them there


def test_one_verified_address_on_an_enabled_channel_is_enough(
    staff: dict[str, StaffUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope() as session:
        session.execute(update(StaffUser).values(phone_verified_at=None))
    assert problems() == []  # Telegram chats are verified

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
    get_settings.cache_clear()

    assert len(problems()) == 2  # only SMS pages now, and no phone is verified


def test_without_paging_channels_the_console_reaches_named_users(
    staff: dict[str, StaffUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "")
    get_settings.cache_clear()
    with session_scope() as session:
        session.execute(
            update(StaffUser).values(phone_verified_at=None, telegram_chat_verified_at=None)
        )
        session.execute(
            update(StaffUser)
            .where(StaffUser.username == "joy")
            .values(phone_encrypted=None, telegram_chat_id_encrypted=None)
        )

    assert problems() == []  # unverified addresses, or none: the console reaches them


def test_deactivated_users_and_researchers_do_not_count(
    staff: dict[str, StaffUser], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_alerts(tmp_path, monkeypatch, backup=["rita"])
    with session_scope() as session:
        session.execute(update(StaffUser).where(StaffUser.username == "joy").values(active=False))

    found = problems()

    assert found[0].startswith("emergency alerts reach nobody in the first round (joy: ")
    assert "backup round (rita: not an active console user who may act)" in found[0]
    assert "everyone round" not in found[0]  # Bob and Cara are there


def test_a_round_the_config_leaves_empty_is_named(
    staff: dict[str, StaffUser], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_alerts(tmp_path, monkeypatch, backup=[])

    assert problems() == [
        "emergency alerts reach nobody in the backup round (escalation.alerts names nobody for it)",
        "urgent alerts reach nobody in the backup round (escalation.alerts names nobody for it)",
    ]


async def test_the_alert_worker_says_so_at_start_one_line_per_level(
    alert_env: str, caplog: pytest.LogCaptureFixture
) -> None:
    worker = AlertWorker.from_settings(get_settings())
    with caplog.at_level(logging.ERROR, logger="bot.alerts.worker"):
        said = await worker.start()
    await worker.aclose()

    assert said == problems()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3
    assert lines[0].startswith("alerts: emergency alerts reach nobody in the first round")


def test_trialbot_run_checks_after_the_demo_is_seeded(staff: dict[str, StaffUser]) -> None:
    assert alert_problems(get_settings()) == []
    with session_scope() as session:
        session.execute(update(StaffUser).values(active=False))

    assert len(alert_problems(get_settings())) == 3
