"""Migration 0013 (one-time passwords, each user's time zone) makes what the models
describe, leaves existing users able to sign in as before, and can be undone, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from bot.db.session import alembic_config, get_engine
from tests.db.schema import columns, differences_from_models, mentioning

AT = "2026-03-02 12:00:00"


def test_the_schema_matches_the_models(database_url: str) -> None:
    assert (
        differences_from_models(database_url, mentioning("must_change_password", "timezone")) == []
    )
    assert {"must_change_password", "timezone"} <= columns(database_url, "staff_users")


def test_existing_users_need_not_change_their_password_and_it_can_be_undone(
    database_url: str,
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0012")
    assert "must_change_password" not in columns(database_url, "staff_users")
    with get_engine(database_url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO staff_users (username, display_name, role, password_hash, active, "
                "created_at) VALUES ('joy', 'Nurse Joy', 'staff', 'x', :yes, :at)"
            ),
            {"yes": True, "at": AT},
        )

    command.upgrade(config, "head")

    with get_engine(database_url).connect() as connection:
        flags = connection.execute(text("SELECT must_change_password FROM staff_users")).all()
    assert [bool(row[0]) for row in flags] == [False]
    command.downgrade(config, "0012")
    assert "must_change_password" not in columns(database_url, "staff_users")
    command.upgrade(config, "head")
