"""Shared fixtures: settings pointed at temporary folders, and databases on SQLite and PostgreSQL.

A test that needs PostgreSQL runs against the local server. It is skipped when no server
answers, unless TRIALBOT_REQUIRE_SERVICES=1 (set by .ci/run), which turns the skip into a
failure.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from spacy.language import Language

from bot.core.settings import PROJECT_ROOT, get_settings

EXAMPLE_STUDY = PROJECT_ROOT / "studies" / "example.yml"
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("TRIALBOT_REQUIRE_SERVICES") == "1"
FIGURES: dict[str, str] = {}


@pytest.fixture(scope="session")
def figures() -> dict[str, str]:
    """Named figures a test wants shown in the terminal summary (recall, path counts)."""
    return FIGURES


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: hand the figures its tests recorded to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["figures"] = dict(FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """In the pytest-xdist controller: gather each worker's figures (`make pytest` runs two
    workers)."""
    FIGURES.update(getattr(node, "workeroutput", {}).get("figures", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show the figures tests recorded after the run."""
    for name, value in FIGURES.items():
        terminalreporter.write_line(f"{name}: {value}")


def service_missing(reason: str) -> None:
    """Skip, or fail when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (TRIALBOT_REQUIRE_SERVICES=1: services are required)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own data folder and database, and the example study."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'trialbot.db'}")
    monkeypatch.setenv("STUDY_CONFIG", str(EXAMPLE_STUDY))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    from bot.db.session import dispose_engines

    dispose_engines()


@pytest.fixture(autouse=True)
def _no_requests_counted() -> None:
    """Every test starts with no request counted by the web app's rate limits (in memory)."""
    throttle = sys.modules.get("bot.web.throttle")
    if throttle is not None:
        throttle.reset()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    name = f"trialbot_test_{secrets.token_hex(4)}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # no server, or no rights
        admin.dispose()
        service_missing(f"PostgreSQL is not available at {POSTGRES_ADMIN_URL}: {error}")
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    from bot.db.session import dispose_engines

    dispose_engines()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A migrated, empty database: SQLite in a temporary folder, then the local PostgreSQL."""
    from bot.db.models import APPEND_ONLY_TABLES, RASA_TABLES, Base
    from bot.db.session import get_engine, migrate
    from bot.outreach.deferred import forget_rasa_stores

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'var' / 'trialbot.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    migrate(url)
    if request.param == "postgresql":
        # Empty includes Rasa's tables: an earlier test's Rasa store is not this test's.
        with get_engine(url).begin() as connection:
            for name in RASA_TABLES:
                connection.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    forget_rasa_stores()
    yield url
    if request.param == "postgresql":
        engine = get_engine(url)
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                if table.name in APPEND_ONLY_TABLES:
                    # Triggers refuse DELETE there; TRUNCATE is the owner's way to empty it.
                    connection.execute(text(f'TRUNCATE TABLE "{table.name}"'))
                else:
                    connection.execute(table.delete())


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    """A session on the test database (committed work is visible to other sessions)."""
    from bot.db.session import get_engine

    factory = sessionmaker(bind=get_engine(database_url), future=True, expire_on_commit=False)
    with factory() as db_session:
        yield db_session


@pytest.fixture(scope="session")
def pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's spaCy pipeline built from the current lexicon into a temporary folder."""
    from bot.nlp.build_pipeline import build

    out = tmp_path_factory.mktemp("spacy") / "trialbot_en"
    build(out)
    return out


@pytest.fixture(scope="session")
def nlp(pipeline_dir: Path) -> Language:
    """The built pipeline, loaded the way the project loads it."""
    from bot.nlp.analysis import load_pipeline

    return load_pipeline(pipeline_dir)
