"""What the benchmarks start and watch: plain Rasa beside the project's stack, a fresh
PostgreSQL database, and the resident memory of every process.

Plain Rasa (`plain_rasa`) is `rasa run` as Rasa ships it, on the same trained model: its
built-in `rest` channel (a credentials file with only `rest:`), the in-memory tracker
store and lock store (an endpoints file with only the project's `action_endpoint`), and
the project's own action server, so the two differ only in what the project adds around
Rasa.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.core.settings import PROJECT_ROOT, Settings
from bot.supervisor import READY_TIMEOUT_SECONDS, process_environment, responds

# Rasa's built-in REST channel and nothing else.
PLAIN_CREDENTIALS = "rest:\n"
# No tracker_store (in memory) and no lock_store (in memory): only the action server, read
# from the same variables the project's endpoints.yml reads.
PLAIN_ENDPOINTS = (
    "action_endpoint:\n  url: ${ACTION_ENDPOINT_URL}\n  token: ${ACTION_SERVER_TOKEN}\n"
)
MEMORY_SAMPLE_SECONDS = 0.2


@contextmanager
def plain_rasa(settings: Settings, port: int, folder: Path) -> Iterator[subprocess.Popen]:
    """`rasa run` on the project's model with the REST channel and in-memory stores.

    Calls the action server of `settings` (which must be running); stopped on exit.
    """
    credentials = folder / "plain-credentials.yml"
    endpoints = folder / "plain-endpoints.yml"
    credentials.write_text(PLAIN_CREDENTIALS, encoding="utf-8")
    endpoints.write_text(PLAIN_ENDPOINTS, encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "rasa",
        "run",
        "--model",
        str(settings.rasa_model),
        "--endpoints",
        str(endpoints),
        "--credentials",
        str(credentials),
        "--interface",
        settings.internal_host,
        "--port",
        str(port),
    ]
    with (folder / "plain-rasa.log").open("w") as log:
        # The project's root as the working directory: the model's spaCy pipeline and
        # custom components are found there, as for the project's own Rasa server.
        process = subprocess.Popen(  # noqa: S603 - our own command
            command, cwd=PROJECT_ROOT, env=process_environment(settings), stdout=log, stderr=log
        )
    try:
        # Rasa loads the model before it listens, so an answer means it is ready.
        url = f"http://{settings.internal_host}:{port}/"
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not responds(url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (folder / "plain-rasa.log").read_text()[-2000:]
                raise RuntimeError(f"plain Rasa did not start:\n{tail}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def fresh_postgres(url: str) -> Iterator[str]:
    """A new database `bench_<random>` on the server of `url`, dropped afterwards.

    The database named in `url` is only connected to (to create and drop the new one), never
    changed, as tests/conftest.py's `postgres_url` does.
    """
    admin = create_engine(url, isolation_level="AUTOCOMMIT", future=True)
    name = f"bench_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        from bot.db.session import dispose_engines

        dispose_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class ProcessMemory:
    """Resident memory of one process (with its children), in bytes."""

    peak: int = 0
    last: int = 0


@dataclass
class MemoryWatch:
    """Samples the RSS of named processes (and their children) in the background.

    `peak` is the highest sample while watching, `last` the sample taken when it stops.
    """

    pids: Mapping[str, int]
    memory: dict[str, ProcessMemory] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.memory = {name: ProcessMemory() for name in self.pids}
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def sample(self) -> None:
        """Read every process's RSS now."""
        for name, pid in self.pids.items():
            try:
                process = psutil.Process(pid)
                family = [process, *process.children(recursive=True)]
                rss = sum(member.memory_info().rss for member in family)
            except psutil.Error:
                continue  # stopped: keep the last reading
            entry = self.memory[name]
            entry.last = rss
            entry.peak = max(entry.peak, rss)

    def _sample_until_stopped(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(MEMORY_SAMPLE_SECONDS)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def lines(self) -> list[str]:
        """One line per process: peak and last RSS in MiB."""
        return [
            f"  {name:<16} peak {entry.peak / 2**20:>6.0f} MiB"
            f"   after {entry.last / 2**20:>6.0f} MiB"
            for name, entry in self.memory.items()
        ]
