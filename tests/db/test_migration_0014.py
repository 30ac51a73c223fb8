"""Migration 0014 (one open escalation per concern) makes what the models describe, keeps
older escalations as they were, and can be undone, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from bot.db.session import alembic_config, get_engine
from tests.db.schema import columns, differences_from_models, mentioning

AT = "2026-03-02 12:00:00"
NEW_COLUMNS = {"concern", "repeat_count", "updated_at"}


def test_the_schema_matches_the_models(database_url: str) -> None:
    assert differences_from_models(database_url, mentioning("escalations")) == []
    assert columns(database_url, "escalations") >= NEW_COLUMNS


def test_older_escalations_have_no_concern_and_no_repeats_and_it_can_be_undone(
    database_url: str,
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0013")
    assert not NEW_COLUMNS & columns(database_url, "escalations")
    with get_engine(database_url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO participants (id, study_id, sender_id, channel, timezone, "
                "language, status, enrolled_at, created_at) VALUES (1, 'P-1', 'P-1', 'sms', "
                "'UTC', 'en', 'active', :at, :at)"
            ),
            {"at": AT},
        )
        connection.execute(
            text(
                "INSERT INTO escalations (participant_id, level, type, reason, status, "
                "created_at, ack_code) VALUES (1, 'urgent', 'symptom', 'cough: grade 3', "
                "'open', :at, 'ABCDEF')"
            ),
            {"at": AT},
        )

    command.upgrade(config, "head")

    with get_engine(database_url).connect() as connection:
        row = connection.execute(
            text("SELECT concern, repeat_count, updated_at FROM escalations")
        ).one()
    assert tuple(row) == (None, 0, None)
    command.downgrade(config, "0013")
    assert not NEW_COLUMNS & columns(database_url, "escalations")
    command.upgrade(config, "head")
