"""The participants and message-log tables, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, time, timezone

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import Channel, Direction, MessageLog, Participant, ParticipantStatus
from bot.db.repository import (
    enroll_participant,
    ensure_web_participant,
    get_participant_by_sender,
    log_message,
    messages_around,
)
from bot.db.session import get_engine, migrate
from bot.db.types import utcnow


def test_migrations_create_every_table(database_url: str) -> None:
    tables = set(inspect(get_engine(database_url)).get_table_names())
    assert {"participants", "message_log", "alembic_version"} <= tables


def test_migrating_twice_changes_nothing(database_url: str) -> None:
    migrate(database_url)
    assert "participants" in inspect(get_engine(database_url)).get_table_names()


def test_enroll_then_find_by_conversation(session: Session) -> None:
    enroll_participant(
        session=session,
        study_id="P-001",
        channel=Channel.SMS,
        address_encrypted="opaque",
        address_hash="digest",
        timezone="America/Chicago",
        preferred_contact_time=time(18, 0),
    )
    session.commit()

    found = get_participant_by_sender(session=session, sender_id="P-001")

    assert found is not None
    assert found.study_id == "P-001"
    assert found.channel is Channel.SMS
    assert found.timezone == "America/Chicago"
    assert found.preferred_contact_time == time(18, 0)
    assert found.status is ParticipantStatus.ACTIVE
    assert found.enrolled_at.tzinfo is not None


def test_study_ids_are_unique(session: Session) -> None:
    enroll_participant(session=session, study_id="P-002", channel=Channel.SMS)
    session.commit()
    with pytest.raises(IntegrityError):
        enroll_participant(session=session, study_id="P-002", channel=Channel.TELEGRAM)
    session.rollback()


def test_web_participant_is_created_once(session: Session) -> None:
    first = ensure_web_participant(session=session, sender_id="web-abcdef123")
    second = ensure_web_participant(session=session, sender_id="web-abcdef123")
    session.commit()

    assert first.id == second.id
    assert first.channel is Channel.WEB
    assert first.study_id.startswith("WEB-")


def test_message_log_keeps_order_and_utc_times(session: Session) -> None:
    participant = enroll_participant(session=session, study_id="P-003", channel=Channel.SMS)
    for index, direction in enumerate([Direction.INBOUND, Direction.OUTBOUND] * 3):
        log_message(
            session=session,
            sender_id="P-003",
            channel=Channel.SMS,
            direction=direction,
            text=f"message {index}",
            participant_id=participant.id,
        )
    session.commit()

    latest = messages_around(session=session, sender_id="P-003", at=utcnow(), before=4, after=0)

    assert [entry.text for entry in latest] == [f"message {index}" for index in range(2, 6)]
    assert all(entry.created_at.tzinfo == timezone.utc for entry in latest)


def test_naive_datetimes_are_refused(session: Session) -> None:
    entry = MessageLog(
        sender_id="x",
        channel=Channel.WEB,
        direction=Direction.INBOUND,
        text="hi",
        created_at=datetime(2026, 1, 1),  # noqa: DTZ001 - the point of the test
    )
    session.add(entry)
    with pytest.raises(Exception, match="naive datetime"):
        session.flush()
    session.rollback()


def test_participant_rows_round_trip_enum_values(session: Session) -> None:
    enroll_participant(session=session, study_id="P-004", channel=Channel.TELEGRAM)
    session.commit()
    raw = session.execute(select(Participant.channel).where(Participant.study_id == "P-004"))
    assert raw.scalar_one() is Channel.TELEGRAM


def test_a_logged_message_carries_its_participants_language_unless_told(
    session: Session,
) -> None:
    spanish = enroll_participant(
        session=session, study_id="P-ES", channel=Channel.SMS, language="es"
    )

    def logged(**changes: object) -> MessageLog:
        values: dict = {
            "session": session,
            "sender_id": spanish.sender_id,
            "channel": Channel.SMS,
            "direction": Direction.INBOUND,
            "text": "hola",
            "participant_id": spanish.id,
            **changes,
        }
        return log_message(**values)

    assert logged().language == "es"
    assert logged(text="HELP", language="en").language == "en"
    assert logged(participant_id=None, sender_id="sms-unknown-1").language is None
