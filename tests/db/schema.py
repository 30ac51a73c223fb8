"""What a migrated database holds, for the migration tests: a table's columns and indexes,
and how its schema differs from what the models describe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.db.models import Base
from bot.db.session import get_engine


def columns(url: str, table: str) -> set[str]:
    """The names of a table's columns."""
    return {column["name"] for column in inspect(get_engine(url)).get_columns(table)}


def indexes(url: str, table: str) -> set[str]:
    """The names of a table's indexes."""
    return {index["name"] for index in inspect(get_engine(url)).get_indexes(table)}


def differences_from_models(url: str, about: Callable[[Any], bool]) -> list[Any]:
    """Alembic's differences between the database and the models that `about` picks."""
    with get_engine(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [
            difference
            for difference in compare_metadata(context, Base.metadata)
            if about(difference)
        ]


def mentioning(*words: str) -> Callable[[Any], bool]:
    """Picks the differences that name any of `words`."""
    return lambda difference: any(word in repr(difference) for word in words)
