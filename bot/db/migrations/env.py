"""Alembic environment: runs the project's migrations on the configured database."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import create_engine

from bot.core.settings import get_settings
from bot.db.models import RASA_TABLES, Base
from bot.db.types import UTCDateTime

config = context.config
target_metadata = Base.metadata


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave Rasa's tracker-store tables alone."""
    return not (type_ == "table" and name in RASA_TABLES)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write our UTC timestamp type as a plain timezone-aware DateTime in migrations."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def database_url() -> str:
    """The URL given by bot.db.session.alembic_config, else DATABASE_URL from the settings."""
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        include_object=include_object,
        render_item=render_item,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations against the database."""
    engine = create_engine(database_url(), future=True)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=include_object,
            render_item=render_item,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
