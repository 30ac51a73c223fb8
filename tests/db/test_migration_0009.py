"""Migration 0009 (test traffic): `participants.is_test`, set for every web-chat participant
already there, exactly as the models describe it, on SQLite and PostgreSQL; undone cleanly.
"""

from __future__ import annotations

from datetime import datetime, timezone

from alembic import command
from sqlalchemy import text

from bot.db.session import alembic_config, get_engine
from tests.db.schema import columns, differences_from_models, mentioning

INSERT = text(
    "INSERT INTO participants (study_id, sender_id, channel, timezone, language, status, "
    "enrolled_at, created_at) VALUES (:study_id, :sender_id, :channel, 'UTC', 'en', "
    "'active', :at, :at)"
)


def test_existing_web_chat_participants_become_test_traffic(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0008")
    assert "is_test" not in columns(database_url, "participants")
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    with get_engine(database_url).begin() as connection:
        for study_id, channel in (("WEB-1A2B3C4D", "web"), ("P-001", "sms"), ("P-002", "telegram")):
            connection.execute(
                INSERT, {"study_id": study_id, "sender_id": study_id, "channel": channel, "at": at}
            )

    command.upgrade(config, "head")

    with get_engine(database_url).connect() as connection:
        rows = connection.execute(text("SELECT study_id, is_test FROM participants")).all()
    assert {study_id: bool(is_test) for study_id, is_test in rows} == {
        "WEB-1A2B3C4D": True,
        "P-001": False,
        "P-002": False,
    }


def test_the_schema_matches_the_models(database_url: str) -> None:
    assert differences_from_models(database_url, mentioning("is_test")) == []
    assert "is_test" in columns(database_url, "participants")
