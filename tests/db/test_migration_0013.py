"""Migration 0013 (one-time passwords, each user's time zone) makes what the models
describe, leaves existing users able to sign in as before, and can be undone, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from bot.db.models import Base
from bot.db.session import alembic_config, get_engine

AT = "2026-03-02 12:00:00"


def staff_user_columns(url: str) -> set[str]:
    return {column["name"] for column in inspect(get_engine(url)).get_columns("staff_users")}


def test_the_schema_matches_the_models(database_url: str) -> None:
    with get_engine(database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            difference
            for difference in compare_metadata(context, Base.metadata)
            if "must_change_password" in str(difference) or "timezone" in str(difference)
        ]
    assert differences == []
    assert {"must_change_password", "timezone"} <= staff_user_columns(database_url)


def test_existing_users_need_not_change_their_password_and_it_can_be_undone(
    database_url: str,
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0012")
    assert "must_change_password" not in staff_user_columns(database_url)
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
    assert "must_change_password" not in staff_user_columns(database_url)
    command.upgrade(config, "head")
