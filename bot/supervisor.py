"""`trialbot run`: starts the Rasa server, the action server, the web app, the outreach
worker and the alert worker together.

honcho runs them with their output interleaved under a name prefix; each runs under
`bot.core.keepalive`, so a process that dies is started again on its own while the others
keep running. Ctrl-C stops them all. Production uses systemd instead (deploy/systemd).
"""

from __future__ import annotations

import logging
import os
import secrets
import shlex
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from honcho.manager import Manager
from honcho.printer import Message

from bot.core.settings import PROJECT_ROOT, Settings
from bot.db.session import migrate, session_scope

logger = logging.getLogger(__name__)

# Called with the settings; returns lines to print when the assistant is ready.
Hook = Callable[[Settings], list[str]]

READY_TIMEOUT_SECONDS = 300
# How long the web app lets open requests finish when it is stopped (uvicorn).
WEB_GRACEFUL_SHUTDOWN_SECONDS = 3


def _command(*parts: str | Path) -> str:
    return " ".join(shlex.quote(str(part)) for part in parts)


def process_commands(settings: Settings) -> dict[str, str]:
    """The shell command of each supervised process."""
    python = Path(sys.executable)
    return {
        # Rasa's server; its API token comes from RASA_API_TOKEN, never from argv.
        "rasa": _command(
            python,
            "-m",
            "bot.rasa_server",
            "--model",
            settings.rasa_model,
            "--endpoints",
            "endpoints.yml",
            "--credentials",
            "credentials.yml",
            "--interface",
            settings.internal_host,
            "--port",
            str(settings.rasa_port),
            "--enable-api",
        ),
        # rasa_sdk's server for bot.actions, refusing calls without ACTION_SERVER_TOKEN.
        "actions": _command(
            python,
            "-m",
            "bot.action_server",
            "--host",
            settings.internal_host,
            "--port",
            str(settings.actions_port),
        ),
        "web": _command(
            python,
            "-m",
            "uvicorn",
            "bot.web.app:app",
            "--ws",
            "none",  # uvicorn's websocket support needs a newer `websockets` than Rasa pins
            "--host",
            settings.public_host,
            "--port",
            str(settings.web_port),
            # X-Forwarded-For only from TRUSTED_PROXIES (none by default), as the app does.
            f"--forwarded-allow-ips={settings.trusted_proxies}",
            # On stop, the console's live-queue streams never end on their own: cut them
            # after this (browsers reconnect to another instance), well inside systemd's
            # TimeoutStopSec.
            f"--timeout-graceful-shutdown={WEB_GRACEFUL_SHUTDOWN_SECONDS}",
        ),
        # Proactive outreach (bot/outreach/worker.py); it serves no HTTP, so readiness
        # does not wait for it.
        "worker": _command(python, "-m", "bot.outreach.worker"),
        # Staff alerts: delivery, retries and re-escalation (bot/alerts/worker.py); no HTTP.
        "alerts": _command(python, "-m", "bot.alerts.worker"),
    }


def serve(settings: Settings, name: str, extra: list[str]) -> None:
    """Become one process of the assistant (`trialbot serve NAME`; a systemd unit each).

    The same command and environment `trialbot run` starts it with, plus `extra`
    options (a worker's `--health-port`); this process is replaced by it (exec), so the
    process manager signals the server itself.
    """
    commands = process_commands(settings)
    if name not in commands:
        raise ValueError(f"no process {name!r}; one of: {', '.join(commands)}")
    problems = settings.channel_problems()
    if problems:
        raise ValueError("; ".join(problems))
    command = " ".join([commands[name], *(shlex.quote(part) for part in extra)])
    os.chdir(PROJECT_ROOT)
    shell = ["/bin/sh", "-c", f"exec {command}"]  # our own commands, quoted with shlex
    os.execve(shell[0], shell, process_environment(settings))  # noqa: S606


def process_environment(settings: Settings) -> dict[str, str]:
    """The environment every supervised process starts with."""
    return {
        **os.environ,
        **settings.child_environment(),
        "SANIC_HOST": settings.internal_host,  # the action server listens on this one only
        "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::PendingDeprecationWarning",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "RASA_TELEMETRY_ENABLED": "false",
    }


def readiness_urls(settings: Settings) -> list[str]:
    """One URL per process that answers once the process is ready."""
    return [
        f"{settings.rasa_url}/webhooks/health/",
        f"http://{settings.internal_host}:{settings.actions_port}/healthz",
        f"http://{settings.public_host}:{settings.web_port}/healthz",
    ]


def responds(url: str) -> bool:
    """True when the URL answers with a non-server-error status."""
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 - our own http URL
            return bool(200 <= reply.status < 500)
    except OSError:
        return False


def _announce_when_ready(
    manager: Manager, settings: Settings, notes: list[str], when_ready: Hook
) -> None:
    """Print where to chat (and the hooks' notes) once all the servers answer."""
    checks = readiness_urls(settings)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if all(responds(url) for url in checks):
            notes = [*notes, *when_ready(settings)]
            lines = [
                "Trial Companion is ready.",
                f"Chat with it at {settings.web_url}/",
                f"Staff console: {settings.web_url}/console/",
                *notes,
                "(Ctrl-C stops everything.)",
            ]
            text = "\n\n" + "".join(f"  {line}\n" for line in lines) + "\n"
            break
        time.sleep(1)
    else:
        text = f"not all servers answered within {READY_TIMEOUT_SECONDS} s; see the output above\n"
    now = datetime.now().astimezone()  # honcho stamps lines with the local time
    manager.events.put(Message(type="line", data=text, time=now, name="system", colour=None))


def _no_notes(settings: Settings) -> list[str]:
    return []


def alert_problems(settings: Settings) -> list[str]:
    """Alert levels that reach nobody (`bot.alerts.coverage`), after the demo's seeding."""
    from bot.alerts.coverage import alert_coverage_problems
    from bot.study.config import load_study_config

    study = load_study_config(settings.study_config)
    with session_scope(settings.database_url) as session:
        return alert_coverage_problems(session=session, study=study, settings=settings)


def run(settings: Settings, *, prepare: Hook = _no_notes, when_ready: Hook = _no_notes) -> int:
    """Migrate the database, start every process, and wait until they stop.

    `prepare` runs after the migration and before the processes start, `when_ready` once
    they all answer; the lines they return are printed with the addresses (the CLI passes
    the demo's seeding and replay here, so the supervisor itself knows nothing of it). An
    alert level that reaches nobody (`alert_problems`) is logged as an error before the
    start and repeated with the addresses.
    """
    problems = settings.channel_problems()
    if problems:
        for problem in problems:
            logger.error("%s", problem)
        return 2
    if not settings.rasa_model.exists():
        logger.error("no trained model at %s: run `make train` first", settings.rasa_model)
        return 2
    migrate(settings.database_url)
    notes = prepare(settings)
    problems = alert_problems(settings)
    for problem in problems:
        logger.error("alerts: %s", problem)
    notes = [*notes, *(f"ALERTS: {problem}" for problem in problems)]
    # Rasa's HTTP API (used to start check-ins) and the action server need tokens; when
    # none is configured, a fresh one per run is fine (they only talk to each other).
    fresh = {
        name: secrets.token_urlsafe(24)
        for name in ("rasa_api_token", "action_server_token")
        if not getattr(settings, name)
    }
    settings = settings.copy(update=fresh)
    environment = process_environment(settings)
    manager = Manager()
    python = Path(sys.executable)
    for name, command in process_commands(settings).items():
        # Each process is restarted on its own when it dies; the others keep running.
        kept = _command(python, "-m", "bot.core.keepalive", name, "--") + " " + command
        manager.add_process(name, kept, env=environment, cwd=str(PROJECT_ROOT))
    threading.Thread(
        target=_announce_when_ready, args=(manager, settings, notes, when_ready), daemon=True
    ).start()
    manager.loop()
    # Ctrl-C (130) and SIGTERM (143) are the normal way to stop.
    return 0 if manager.returncode in (None, 130, 143) else int(manager.returncode)
