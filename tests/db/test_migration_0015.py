"""Migration 0015 (replies numbered in the handling of the message they answer) makes what
the models describe and can be undone, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from alembic import command

from bot.db.session import alembic_config
from tests.db.schema import columns, differences_from_models, indexes, mentioning

REPLY_COLUMNS = {"reply_to_id", "reply_index"}


def test_the_schema_matches_the_models(database_url: str) -> None:
    assert differences_from_models(database_url, mentioning("reply")) == []
    assert columns(database_url, "message_log") >= REPLY_COLUMNS
    assert "ix_message_log_reply" in indexes(database_url, "message_log")


def test_it_can_be_undone_and_done_again(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0014")
    assert not REPLY_COLUMNS & columns(database_url, "message_log")
    command.upgrade(config, "head")
    assert columns(database_url, "message_log") >= REPLY_COLUMNS
