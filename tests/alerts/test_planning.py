"""Who gets which round of an alert, and what the alert says (bot.alerts.planning, .texts)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from bot.alerts.planning import (
    BACKUP,
    CONSOLE_TARGET,
    EVERYONE,
    FIRST,
    GROUP_RECIPIENT,
    Target,
    channels_for,
    plan_round,
    round_due_at,
)
from bot.alerts.texts import CONSOLE_PATH, AlertFacts, ack_notice_text, alert_text
from bot.db.models import AlertChannel, EscalationLevel, StaffUser
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.study.config import StudyConfig, StudyConfigError, parse_study_config
from bot.web.console import sessions
from tests.alerts.support import alerts_section

ALL = frozenset(AlertChannel)


def study(**alerts: object) -> StudyConfig:
    return parse_study_config({"escalation": {"alerts": alerts_section(**alerts)}})


def plan(
    session: Session,
    config: StudyConfig,
    round_number: int,
    level: EscalationLevel = EscalationLevel.URGENT,
    enabled: frozenset[AlertChannel] = ALL,
) -> set[Target]:
    return set(
        plan_round(
            session=session, study=config, level=level, round_number=round_number, enabled=enabled
        )
    )


def ids(staff: dict[str, StaffUser]) -> dict[str, int]:
    return {name: user.id for name, user in staff.items()}


def test_rounds(staff: dict[str, StaffUser]) -> None:
    users = ids(staff)
    with session_scope() as session:
        first = plan(session, study(), FIRST)
        backup = plan(session, study(), BACKUP)
        everyone = plan(session, study(), EVERYONE)

    def people(name: str) -> set[Target]:
        return {
            Target(channel, f"staff:{name}", users[name])
            for channel in (AlertChannel.TELEGRAM, AlertChannel.SMS, AlertChannel.CONSOLE)
        }

    group = Target(AlertChannel.TELEGRAM, GROUP_RECIPIENT)
    assert first == {CONSOLE_TARGET, group, *people("joy")}
    assert backup == {CONSOLE_TARGET, *people("bob")}
    assert everyone == {CONSOLE_TARGET, group, *people("joy"), *people("bob"), *people("cara")}


def test_everyone_defaults_to_the_whole_care_team(staff: dict[str, StaffUser]) -> None:
    with session_scope() as session:
        everyone = plan(session, study(everyone=[]), EVERYONE)

    names = {target.recipient for target in everyone}
    assert names == {"queue", "group chat", "staff:joy", "staff:bob", "staff:cara"}  # no rita


def test_researchers_and_unknown_users_are_never_alerted(staff: dict[str, StaffUser]) -> None:
    with session_scope() as session:
        first = plan(session, study(on_call=["rita", "nobody"]), FIRST)

    assert {target.recipient for target in first} == {"queue", "group chat"}


def test_the_level_decides_the_channels(staff: dict[str, StaffUser]) -> None:
    config = study(channels={"urgent": ["sms"]})
    with session_scope() as session:
        first = plan(session, config, FIRST)
        routine = plan(session, config, FIRST, EscalationLevel.ROUTINE)

    assert {target.channel for target in first} == {AlertChannel.SMS, AlertChannel.CONSOLE}
    console_joy = Target(AlertChannel.CONSOLE, "staff:joy", staff["joy"].id)
    assert routine == {CONSOLE_TARGET, console_joy}


def test_channels_without_credentials_are_left_out(staff: dict[str, StaffUser]) -> None:
    with session_scope() as session:
        first = plan(session, study(), FIRST, enabled=frozenset({AlertChannel.CONSOLE}))

    # The on-call nurse is still named: the console shows it to her.
    assert first == {CONSOLE_TARGET, Target(AlertChannel.CONSOLE, "staff:joy", staff["joy"].id)}


def test_the_console_is_always_a_channel() -> None:
    config = study(channels={"urgent": ["telegram"]})
    assert channels_for(config, EscalationLevel.URGENT) == [
        AlertChannel.TELEGRAM,
        AlertChannel.CONSOLE,
    ]
    assert channels_for(StudyConfig(), EscalationLevel.EMERGENCY) == [AlertChannel.CONSOLE]


def test_rounds_are_due_after_each_response_time() -> None:
    config = StudyConfig()
    created = utcnow()
    assert round_due_at(config, EscalationLevel.URGENT, created, 0) == created
    assert round_due_at(config, EscalationLevel.URGENT, created, 1) == created + timedelta(
        minutes=15
    )
    assert round_due_at(config, EscalationLevel.EMERGENCY, created, 2) == created + timedelta(
        minutes=10
    )


def test_the_config_reads_usernames_and_a_numeric_group_chat() -> None:
    config = parse_study_config(
        {"escalation": {"alerts": {"on_call": " Joy ", "telegram_group_chat": -100123}}}
    )
    assert config.escalation.alerts.on_call == ["joy"]
    assert config.escalation.alerts.telegram_group_chat == "-100123"
    with pytest.raises(StudyConfigError):
        parse_study_config({"escalation": {"alerts": {"channels": {"urgent": ["pager"]}}}})


NOW = utcnow()
FACTS = AlertFacts(
    escalation_id=12,
    study_id="P-001",
    level=EscalationLevel.EMERGENCY,
    ack_code="K7P2QX",
    created_at=utcnow(),
)


def test_an_alert_has_only_the_study_id_level_link_and_ack_code() -> None:
    text = alert_text(
        FACTS,
        channel=AlertChannel.SMS,
        round_number=FIRST,
        base_url="https://trial.example.org/",
        now=FACTS.created_at,
    )
    assert text.split("\n") == [
        "EMERGENCY alert #12: P-001",
        "Open: https://trial.example.org/console/escalations/12",
        "Reply ACK K7P2QX to acknowledge.",
    ]
    assert text.isascii() and len(text) <= 160  # one SMS segment


def test_nothing_a_lock_screen_should_not_show_reaches_an_alert() -> None:
    """Safety rule 5: no reason, type or study name, whatever the escalation says."""
    import dataclasses

    fields = {field.name for field in dataclasses.fields(AlertFacts)}
    assert fields == {"escalation_id", "study_id", "level", "ack_code", "created_at"}
    for round_number in (FIRST, BACKUP, EVERYONE):
        for channel in (AlertChannel.SMS, AlertChannel.TELEGRAM):
            text = alert_text(
                FACTS,
                channel=channel,
                round_number=round_number,
                base_url="https://x",
                now=utcnow(),
            ).lower()
            for word in ("self harm", "red flag", "emergency,", "symptom", "withdraw", "breathe"):
                assert word not in text


def test_later_rounds_say_how_long_nobody_acknowledged() -> None:
    text = alert_text(
        FACTS,
        channel=AlertChannel.TELEGRAM,
        round_number=EVERYONE,
        base_url="https://x",
        now=FACTS.created_at + timedelta(minutes=10, seconds=20),
    )
    assert text.startswith("ALL STAFF - still not acknowledged after 10 min. EMERGENCY alert #12")
    assert text.endswith("Press Acknowledge, or text ACK K7P2QX.")


def test_the_acknowledged_notice() -> None:
    assert ack_notice_text(FACTS, acknowledged_by="Nurse Joy", resolved=True) == (
        "Resolved by Nurse Joy: EMERGENCY alert #12 (P-001). No action needed from you."
    )


def test_the_console_path_is_the_consoles() -> None:
    assert CONSOLE_PATH == sessions.CONSOLE_PATH
