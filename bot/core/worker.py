"""The skeleton of every background worker: the loop, signals, interval, `--once`, health.

A worker (the outreach worker, the alert worker) implements only `tick`: one pass of its
work, derived from the database so that a restarted worker resumes where the last one
stopped. `Worker` owns everything around it, the same way for every worker:

- `run_forever` starts a tick every `interval` seconds however long the last one took,
  until SIGTERM, SIGINT or a `stop` event; a tick that raises is logged and the next tick
  runs as usual, so one bad row or a database blip never stops the process;
- `run_once` is one tick (after `start`) and `finish`: what `--once` and the tests run;
- `health` counts ticks and failures and knows when the last tick succeeded; with a
  heartbeat file, its modification time is touched after each good tick, and with a
  health port, `GET /healthz` answers 200 when ticks succeed on time and the worker's
  own `checks` (its database, Rasa) pass, 503 with the failing checks otherwise, so a
  process manager or a monitoring check can tell a live worker from a stuck one;
- `command` is the command line (`--interval`, `--once`, `--heartbeat`) with the
  project's logging.

Imports only `bot.core` (settings, logging): workers depend on this, never the reverse.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.logs import configure_logging
from bot.core.settings import Settings, SettingsError, get_settings

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class Health:
    """How a worker's ticks have gone since it started (monotonic seconds)."""

    started_at: float
    ticks: int = 0
    failures: int = 0
    failures_in_a_row: int = 0
    last_success_at: float | None = None
    last_error: str | None = None

    def is_healthy(self, interval: float, *, now: float | None = None) -> bool:
        """A tick succeeded within the last three intervals (or the worker just started)."""
        now = time.monotonic() if now is None else now
        since = self.last_success_at if self.last_success_at is not None else self.started_at
        return now - since <= 3 * interval + 5.0


class Worker(abc.ABC):
    """A background process that does one `tick` of work every `interval` seconds."""

    #: How the worker is named in its log lines ("outreach worker started ...").
    name: str = "worker"
    #: Seconds between the starts of two ticks, unless the command line says otherwise.
    default_interval: float = 30.0
    #: What `--help` says the worker does.
    description: str = ""

    def __init__(self) -> None:
        self._stop: asyncio.Event | None = None
        self._started = False
        self.health = Health(started_at=time.monotonic())
        self.heartbeat: Path | None = None
        self.health_port: int | None = None
        self._interval = self.default_interval

    # --- what a worker implements ----------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings) -> Worker:
        """A worker configured from the settings (raise SettingsError if it cannot run)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def tick(self) -> Any:
        """One pass of the work; returns a report for the log and the tests."""

    async def start(self) -> Any:
        """Once, before the first tick (recover what a stopped worker left half done)."""
        return None

    async def finish(self) -> None:
        """After the last tick: let work started in the background end."""
        return None

    async def aclose(self) -> None:
        """Release connections (HTTP clients); the worker is not used again."""
        return None

    def describe(self) -> str:
        """What the start-up log line says about this worker (its channels, say)."""
        return ""

    async def checks(self) -> dict[str, str]:
        """The health of what the worker needs: name -> "ok" or what is wrong."""
        return {}

    # --- the skeleton ----------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """A stop was asked for: a long tick should end after the item in hand."""
        return self._stop is not None and self._stop.is_set()

    async def ensure_started(self) -> None:
        """Run `start` once."""
        if not self._started:
            self._started = True
            await self.start()

    async def run_once(self) -> Any:
        """One tick, waiting for the work it started (for tests and `--once`)."""
        await self.ensure_started()
        report = await self._guarded_tick(raise_errors=True)
        await self.finish()
        return report

    async def run_forever(
        self, interval: float | None = None, stop: asyncio.Event | None = None
    ) -> None:
        """Tick every `interval` seconds until SIGTERM, SIGINT or `stop`; then `finish`."""
        interval = self._interval = self.default_interval if interval is None else interval
        stop = self._stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, stop.set)
        port = self.health_port
        health_server = await self._serve_health(port) if port is not None else None
        try:
            await self.ensure_started()
            details = self.describe()
            logger.info(
                "%s started (every %s s%s)", self.name, interval, f"; {details}" if details else ""
            )
            while not stop.is_set():
                started = loop.time()
                await self._guarded_tick(raise_errors=False)
                # A tick starts every `interval` seconds, however long the last one took.
                remaining = max(0.0, interval - (loop.time() - started))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=remaining)
            await self.finish()
        finally:
            if health_server is not None:
                health_server.close()
                await health_server.wait_closed()
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)
            logger.info("%s stopped", self.name)

    async def health_report(self) -> tuple[bool, dict[str, str]]:
        """Whether the worker is healthy, and each check's answer."""
        on_time = self.health.is_healthy(self._interval)
        checks = {"ticks": "ok" if on_time else f"no good tick ({self.health.last_error})"}
        checks.update(await self.checks())
        return all(value == "ok" for value in checks.values()), checks

    async def _serve_health(self, port: int) -> asyncio.AbstractServer:
        """`GET /healthz` on 127.0.0.1:<health port> (the worker serves nothing else)."""

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                request_line = await asyncio.wait_for(reader.readline(), timeout=5)
                path = request_line.decode("latin-1").split(" ")[1:2]
                if path == ["/healthz"]:
                    healthy, checks = await self.health_report()
                    status = "200 OK" if healthy else "503 Service Unavailable"
                    body = json.dumps({"status": "ok" if healthy else "failing", "checks": checks})
                else:
                    status, body = "404 Not Found", json.dumps({"error": "only /healthz"})
                payload = body.encode()
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
            except (OSError, asyncio.TimeoutError, IndexError):
                pass
            finally:
                writer.close()

        return await asyncio.start_server(answer, "127.0.0.1", port)

    async def _guarded_tick(self, *, raise_errors: bool) -> Any:
        self.health.ticks += 1
        try:
            report = await self.tick()
        except Exception as error:
            self.health.failures += 1
            self.health.failures_in_a_row += 1
            self.health.last_error = f"{type(error).__name__}: {error}"
            if raise_errors:
                raise
            logger.exception(
                "%s tick failed (%s in a row); trying again next tick",
                self.name,
                self.health.failures_in_a_row,
            )
            return None
        self.health.failures_in_a_row = 0
        self.health.last_success_at = time.monotonic()
        if self.heartbeat is not None:
            self._beat(self.heartbeat)
        return report

    @staticmethod
    def _beat(path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        except OSError:
            logger.warning("could not touch the heartbeat file %s", path, exc_info=True)


WorkerFactory = Callable[[Settings], Worker]


async def serve(worker: Worker, *, interval: float | None = None, once: bool = False) -> int:
    """Run a worker until stopped (or for one tick), then close it."""
    try:
        if once:
            logger.info("%s tick: %s", worker.name, await worker.run_once())
        else:
            await worker.run_forever(interval)
    finally:
        await worker.aclose()
    return 0


def command(worker_class: type[Worker], argv: Sequence[str] | None = None) -> int:
    """`python -m <the worker's module> [--interval SECONDS] [--once] [--heartbeat FILE]`."""
    prog = f"python -m {worker_class.__module__}"
    parser = argparse.ArgumentParser(prog=prog, description=worker_class.description)
    add_arguments(parser, worker_class.default_interval)
    args = parser.parse_args(argv)
    try:
        return run(worker_class.from_settings, args)
    except SettingsError as error:
        sys.stderr.write(f"{prog}: {error}\n")
        return 2


def add_arguments(parser: argparse.ArgumentParser, default_interval: float) -> None:
    """The worker options, for a worker's own command or a `trialbot` subcommand."""
    parser.add_argument(
        "--interval", type=float, default=default_interval, help="seconds between ticks"
    )
    parser.add_argument("--once", action="store_true", help="run one tick and stop")
    parser.add_argument(
        "--health-port",
        type=int,
        default=None,
        help="serve GET /healthz on 127.0.0.1 at this port (for systemd or monitoring)",
    )
    parser.add_argument(
        "--heartbeat",
        type=Path,
        default=None,
        help="a file whose modification time is set after every good tick (for monitoring)",
    )


def run(factory: WorkerFactory, args: argparse.Namespace) -> int:
    """Build the worker from the settings and run it as the parsed options say.

    A setting the worker cannot start without raises `SettingsError` before anything runs.
    """
    settings = get_settings()
    configure_logging(settings.log_level)
    worker = factory(settings)
    worker.heartbeat = args.heartbeat
    worker.health_port = args.health_port
    return asyncio.run(serve(worker, interval=args.interval, once=args.once))
