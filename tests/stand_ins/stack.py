"""The whole assistant started for real, for tests and benchmarks.

`running(settings, logs)` starts every process `trialbot run` would start (the same
commands and environment, from `bot.supervisor`), with each one's output in
`logs/<name>.log` instead of the console, waits until every server answers, and stops
them all on exit; `started(settings, logs, names, ready)` does the same for some of them.
Like the Twilio and Telegram stand-ins beside it, it lives with the tests, not in the
product.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.core.settings import PROJECT_ROOT, Settings
from bot.supervisor import (
    READY_TIMEOUT_SECONDS,
    process_commands,
    process_environment,
    readiness_urls,
    responds,
)

READY_POLL_SECONDS = 0.2


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StartError(RuntimeError):
    """A supervised process stopped or did not become ready in time."""


@contextmanager
def running(settings: Settings, logs: Path) -> Iterator[list[subprocess.Popen]]:
    """Start every process with output to `logs/<name>.log`; stop them all on exit.

    For tests and benchmarks, which need the real servers without the console output.
    """
    names = list(process_commands(settings))
    with started(settings, logs, names, readiness_urls(settings)) as processes:
        yield processes


@contextmanager
def started(
    settings: Settings, logs: Path, names: Collection[str], ready: list[str]
) -> Iterator[list[subprocess.Popen]]:
    """Start the named processes (output to `logs/<name>.log`) and wait until each URL in
    `ready` answers; stop them all on exit."""
    logs.mkdir(parents=True, exist_ok=True)
    environment = process_environment(settings)
    commands = process_commands(settings)
    processes: list[subprocess.Popen] = []
    try:
        for name in names:
            command = commands[name]
            with (logs / f"{name}.log").open("w") as log:
                processes.append(
                    subprocess.Popen(  # noqa: S602 - our own commands, quoted with shlex
                        # exec: the shell becomes the process, so terminate() reaches it
                        # (without it the shell dies and the server lives on, orphaned).
                        f"exec {command}",
                        shell=True,
                        cwd=PROJECT_ROOT,
                        env=environment,
                        stdout=log,
                        stderr=log,
                    )
                )
        _wait_until_ready(ready, processes, logs)
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_until_ready(ready: list[str], processes: list[subprocess.Popen], logs: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            break
        if all(responds(url) for url in ready):
            return
        time.sleep(READY_POLL_SECONDS)
    tails = "\n".join(
        f"--- {log.name}\n{log.read_text()[-2000:]}" for log in sorted(logs.iterdir())
    )
    raise StartError(f"the assistant did not start:\n{tails}")
