"""The engine keeps its connections (bot/db/session.py), on SQLite and PostgreSQL: a session
reuses an open connection, from any worker thread, and SQLite's PRAGMAs are still in force
on a reused one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

import bot.db.session
from bot.db.session import get_engine, session_scope


def _connection_of(session: Session) -> Any:
    """The DBAPI connection a session runs on."""
    return session.connection().connection.dbapi_connection


def _one_session(url: str) -> tuple[Any, dict[str, Any]]:
    """Run one session; its DBAPI connection and (SQLite) the PRAGMAs in force on it."""
    with session_scope(url) as session:
        pragmas: dict[str, Any] = {}
        if session.get_bind().dialect.name == "sqlite":
            for name in ("journal_mode", "foreign_keys", "busy_timeout"):
                pragmas[name] = session.execute(text(f"PRAGMA {name}")).scalar_one()
        else:
            session.execute(text("SELECT 1"))
        return _connection_of(session), pragmas


async def test_sessions_reuse_one_connection_from_any_thread(database_url: str) -> None:
    engine = get_engine(database_url)
    opened: list[object] = []
    event.listen(engine, "connect", lambda connection, record: opened.append(connection))

    first, _ = _one_session(database_url)
    later = [_one_session(database_url)[0] for _ in range(3)]
    threaded = [(await asyncio.to_thread(_one_session, database_url))[0] for _ in range(3)]

    assert all(connection is first for connection in later + threaded)
    assert len(opened) <= 1  # the first session may have opened it; nothing more


async def test_sqlite_pragmas_hold_on_a_reused_connection(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PRAGMAs are SQLite's")
    first, _ = _one_session(database_url)

    again, pragmas = await asyncio.to_thread(_one_session, database_url)

    assert again is first
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10000}


def test_a_forked_process_makes_its_own_engine(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parents = get_engine(database_url)
    parents_connection, _ = _one_session(database_url)
    monkeypatch.setattr(bot.db.session, "_owner_pid", -1)  # as a child of a fork sees it

    child, _ = _one_session(database_url)

    assert get_engine(database_url) is not parents
    assert child is not parents_connection
    cursor = parents_connection.cursor()  # the parent's connection was not closed
    cursor.execute("SELECT 1")
    assert cursor.fetchone()[0] == 1
    cursor.close()
