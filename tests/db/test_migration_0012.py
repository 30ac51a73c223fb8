"""Migration 0012 (the language of each logged message) makes what the models describe, gives
the messages already logged their participant's language, and can be undone, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from bot.db.session import alembic_config, get_engine
from tests.db.schema import columns, differences_from_models, mentioning

AT = "2026-03-02 12:00:00"


def test_the_schema_matches_the_models(database_url: str) -> None:
    assert differences_from_models(database_url, mentioning("language")) == []
    assert "language" in columns(database_url, "message_log")


def test_older_messages_get_their_participants_language_and_it_can_be_undone(
    database_url: str,
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0011")
    assert "language" not in columns(database_url, "message_log")
    with get_engine(database_url).begin() as connection:
        for number, language in ((1, "en"), (2, "es")):
            connection.execute(
                text(
                    "INSERT INTO participants (id, study_id, sender_id, channel, timezone, "
                    "language, status, enrolled_at, created_at) VALUES (:id, :study_id, "
                    ":study_id, 'sms', 'UTC', :language, 'active', :at, :at)"
                ),
                {"id": number, "study_id": f"P-{number}", "language": language, "at": AT},
            )
        for participant_id, sender_id in ((1, "P-1"), (2, "P-2"), (None, "sms-unknown-1")):
            connection.execute(
                text(
                    "INSERT INTO message_log (participant_id, sender_id, channel, direction, "
                    "text, attempts, created_at, updated_at) "
                    "VALUES (:participant_id, :sender_id, 'sms', 'in', 'hi', 0, :at, :at)"
                ),
                {"participant_id": participant_id, "sender_id": sender_id, "at": AT},
            )

    command.upgrade(config, "head")

    with get_engine(database_url).connect() as connection:
        languages = connection.execute(
            text("SELECT sender_id, language FROM message_log ORDER BY id")
        ).all()
    assert [tuple(row) for row in languages] == [
        ("P-1", "en"),
        ("P-2", "es"),
        ("sms-unknown-1", None),
    ]
    command.downgrade(config, "0011")
    assert "language" not in columns(database_url, "message_log")
    command.upgrade(config, "head")
