"""Migration 0015 (replies numbered in the handling of the message they answer) makes what
the models describe and can be undone, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.db.models import Base
from bot.db.session import alembic_config, get_engine

REPLY_COLUMNS = {"reply_to_id", "reply_index"}


def message_log_columns(url: str) -> set[str]:
    return {column["name"] for column in inspect(get_engine(url)).get_columns("message_log")}


def test_the_schema_matches_the_models(database_url: str) -> None:
    with get_engine(database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            difference
            for difference in compare_metadata(context, Base.metadata)
            if "reply" in str(difference)
        ]
    assert differences == []
    assert message_log_columns(database_url) >= REPLY_COLUMNS
    indexes = inspect(get_engine(database_url)).get_indexes("message_log")
    assert {"ix_message_log_reply"} <= {index["name"] for index in indexes}


def test_it_can_be_undone_and_done_again(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0014")
    assert not REPLY_COLUMNS & message_log_columns(database_url)
    command.upgrade(config, "head")
    assert message_log_columns(database_url) >= REPLY_COLUMNS
