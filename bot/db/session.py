"""Engines and sessions (SQLAlchemy 1.4 in the 2.0 style), and schema migrations.

One engine per database URL and process, with a pool that keeps its connections: a
session takes an open connection instead of opening one (for SQLite, a new connection
also meant its PRAGMAs again). SQLite files use a QueuePool (SQLAlchemy 1.4's default for
them is no pool at all); its connections may move between threads (`check_same_thread`
off: sessions run on `asyncio.to_thread` workers), one thread at a time, and the PRAGMAs
are set once per connection when it is opened. PostgreSQL uses a QueuePool whose
connections are checked before use (`pool_pre_ping`: a server restart costs no request).
A process that finds engines made by another (a fork) makes its own.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from bot.core.settings import get_settings

T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Connections kept open per engine, and how many more it may open when all are in use
# (sessions run on asyncio.to_thread workers: a few at a time per process).
POOL_SIZE = 5
MAX_OVERFLOW = 10

_lock = threading.Lock()
_sessionmakers: dict[str, sessionmaker] = {}
_owner_pid = os.getpid()


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL lets the Rasa server, action server and web app share one SQLite file.

    Run once per new connection (the pool's `connect` event); the pool keeps them set.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _create_engine(url: str) -> Engine:
    """A pooled engine for the URL (see the module doc)."""
    parsed = make_url(url)
    pooled: dict[str, Any] = {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW}
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, future=True, poolclass=QueuePool, pool_pre_ping=True, **pooled)
    in_file = bool(parsed.database) and parsed.database != ":memory:"
    if in_file:
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        future=True,
        connect_args={"check_same_thread": False},
        # An in-memory database lives in its one connection: SQLAlchemy's own pool for it.
        **({"poolclass": QueuePool, **pooled} if in_file else {}),
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _forget_inherited_engines() -> None:
    """In a forked child, drop the parent's engines without closing the parent's
    connections (they are the parent's to use); this process opens its own. Call with
    `_lock` held."""
    global _owner_pid
    if os.getpid() == _owner_pid:
        return
    for factory in _sessionmakers.values():
        factory.kw["bind"].dispose(close=False)
    _sessionmakers.clear()
    _owner_pid = os.getpid()


def _sessionmaker(url: str | None) -> sessionmaker:
    url = url or get_settings().database_url
    with _lock:
        _forget_inherited_engines()
        factory = _sessionmakers.get(url)
        if factory is None:
            factory = sessionmaker(bind=_create_engine(url), future=True, expire_on_commit=False)
            _sessionmakers[url] = factory
        return factory


def get_engine(url: str | None = None) -> Engine:
    """The shared engine of a database URL (the settings' DATABASE_URL by default)."""
    engine: Engine = _sessionmaker(url).kw["bind"]
    return engine


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session: Session = _sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def ping(url: str | None = None) -> None:
    """Raise when the database cannot run `SELECT 1` (health checks)."""
    with get_engine(url).connect() as connection:
        connection.execute(text("SELECT 1"))


def database_check(url: str | None = None) -> str:
    """A health check's answer: "ok", or the kind of error the database gave."""
    try:
        ping(url)
    except Exception as error:  # any failure is an unhealthy answer, never a crash
        return type(error).__name__
    return "ok"


def in_session(work: Callable[[Session], T]) -> T:
    """Run `work(session)` in its own committed transaction."""
    with session_scope() as session:
        return work(session)


async def in_session_async(work: Callable[[Session], T]) -> T:
    """`in_session` on a worker thread: sync repository code called from async code."""
    return await asyncio.to_thread(in_session, work)


def dispose_engines() -> None:
    """Close every pooled connection and forget the engines (tests; before a fork)."""
    with _lock:
        for factory in _sessionmakers.values():
            factory.kw["bind"].dispose()
        _sessionmakers.clear()


def alembic_config(url: str | None = None) -> Any:
    """Alembic's configuration for this project's migrations, pointed at a database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    database_url = url or get_settings().database_url
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def migrate(url: str | None = None) -> None:
    """Bring the database schema up to date (creates the SQLite folder if needed)."""
    from alembic import command

    get_engine(url)  # creates the SQLite folder
    command.upgrade(alembic_config(url), "head")
