"""Migration 0010 (inbound messages handled once; outreach claims are leases) makes what the
models describe, counts every inbound message already stored as handled, and can be undone,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from bot.db.models import Base
from bot.db.session import alembic_config, get_engine

NEW_COLUMNS = {
    "message_log": {"handled_at", "claimed_by", "claimed_until", "detail"},
    "scheduled_messages": {"claimed_by", "claimed_at"},
}
INDEX = "ix_message_log_unhandled"


def _ours(difference: Any) -> bool:
    """True when an autogenerate difference concerns a column or index this migration adds."""
    names = set().union(*NEW_COLUMNS.values()) | {INDEX}
    for item in difference if isinstance(difference, list) else [difference]:
        for part in item:
            if getattr(part, "name", None) in names:
                return True
    return False


def columns(url: str, table: str) -> set[str]:
    return {column["name"] for column in inspect(get_engine(url)).get_columns(table)}


def test_the_schema_matches_the_models(database_url: str) -> None:
    with get_engine(database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, Base.metadata) if _ours(d)]
    assert differences == []
    indexes = {
        index["name"] for index in inspect(get_engine(database_url)).get_indexes("message_log")
    }
    assert INDEX in indexes


def test_messages_stored_before_count_as_handled_and_it_can_be_undone(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0008")
    for table, added in NEW_COLUMNS.items():
        assert added.isdisjoint(columns(database_url, table))
    with get_engine(database_url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO participants (id, study_id, sender_id, channel, timezone, language, "
                "status, enrolled_at, created_at) VALUES (1, 'P-1', 'P-1', 'sms', 'UTC', 'en', "
                "'active', :at, :at)"
            ),
            {"at": "2026-03-02 12:00:00"},
        )
        for direction in ("in", "out"):
            connection.execute(
                text(
                    "INSERT INTO message_log (participant_id, sender_id, channel, direction, "
                    "text, attempts, created_at, updated_at) "
                    "VALUES (1, 'P-1', 'sms', :direction, 'hi', 0, :at, :at)"
                ),
                {"direction": direction, "at": "2026-03-02 12:00:00"},
            )
        connection.execute(
            text(
                "INSERT INTO scheduled_messages (participant_id, kind, due_at, dedupe_key, "
                "status, attempts, created_at) VALUES (1, 'checkin_prompt', :at, 'k', "
                "'sending', 1, :at)"
            ),
            {"at": "2026-03-02 12:00:00"},
        )

    command.upgrade(config, "head")

    with get_engine(database_url).connect() as connection:
        logged = connection.execute(
            text("SELECT direction, handled_at, created_at FROM message_log ORDER BY id")
        ).all()
        left = connection.execute(text("SELECT status, note FROM scheduled_messages")).one()
    (_, handled_at, created_at), (_, outbound_handled, _) = logged
    assert handled_at == created_at
    assert outbound_handled is None
    assert left[0] == "failed"
    assert "not sent again" in left[1]
