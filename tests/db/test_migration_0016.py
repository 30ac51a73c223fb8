"""Migration 0016 (staff alert addresses proven by their owner) makes what the models
describe, leaves existing users unverified, and can be undone, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from bot.db.session import alembic_config, get_engine
from tests.db.schema import columns, differences_from_models, mentioning

VERIFIED_COLUMNS = {"phone_verified_at", "telegram_chat_verified_at"}
CHECKS = "staff_address_checks"
AT = "2026-03-02 12:00:00"


def _tables(url: str) -> set[str]:
    return set(inspect(get_engine(url)).get_table_names())


def test_the_schema_matches_the_models(database_url: str) -> None:
    assert differences_from_models(database_url, mentioning("verified_at", CHECKS)) == []
    assert columns(database_url, "staff_users") >= VERIFIED_COLUMNS
    assert CHECKS in _tables(database_url)


def test_existing_users_stay_unverified_and_it_can_be_undone(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0015")
    assert not VERIFIED_COLUMNS & columns(database_url, "staff_users")
    assert CHECKS not in _tables(database_url)
    with get_engine(database_url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO staff_users (username, display_name, role, password_hash, active, "
                "created_at, phone_encrypted, phone_hash) "
                "VALUES ('joy', 'Nurse Joy', 'staff', 'x', :yes, :at, 'token', 'digest')"
            ),
            {"yes": True, "at": AT},
        )

    command.upgrade(config, "head")

    with get_engine(database_url).connect() as connection:
        rows = connection.execute(
            text("SELECT phone_verified_at, telegram_chat_verified_at FROM staff_users")
        ).all()
    assert [tuple(row) for row in rows] == [(None, None)]
    command.downgrade(config, "0015")
    assert CHECKS not in _tables(database_url)
    command.upgrade(config, "head")
    assert CHECKS in _tables(database_url)
