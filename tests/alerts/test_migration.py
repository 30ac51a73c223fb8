"""Migration 0007 makes exactly what the models describe (alert deliveries, handoffs,
`message_log.sent_by`), on SQLite and PostgreSQL, and can be undone.
"""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.db.models import Base
from bot.db.session import alembic_config, get_engine

OURS = {"alert_deliveries", "handoffs"}


def _about_ours(difference: Any) -> bool:
    """True when an autogenerate difference concerns this migration's tables or column."""
    for item in difference if isinstance(difference, list) else [difference]:
        for part in item:
            name = getattr(part, "name", None) or getattr(getattr(part, "table", None), "name", "")
            if name in OURS or name == "sent_by" or (isinstance(part, str) and part in OURS):
                return True
    return False


def test_the_schema_matches_the_models(database_url: str) -> None:
    with get_engine(database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, Base.metadata) if _about_ours(d)]
    assert differences == []


def test_the_migration_can_be_undone_and_redone(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0006")
    inspector = inspect(get_engine(database_url))
    assert OURS.isdisjoint(inspector.get_table_names())
    assert "sent_by" not in {column["name"] for column in inspector.get_columns("message_log")}
    command.upgrade(config, "head")
    inspector = inspect(get_engine(database_url))
    assert set(inspector.get_table_names()) >= OURS
    unique = {index["name"] for index in inspector.get_indexes("handoffs") if index["unique"]}
    assert "ux_handoffs_active" in unique
