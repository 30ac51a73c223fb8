"""Benchmark: a study's participants all due for their check-in at the same minute.

Enrolls N participants (10,000 by default) on SMS with one check-in time, starts the real
assistant's Rasa server and action server (`tests.stand_ins.stack.started`) and the
outreach worker process (`python -m bot.outreach.worker`, as `trialbot run` starts it,
ticking every `--interval` seconds) on free ports, with SMS pointed at the local Twilio
stand-in (tests/stand_ins/twilio_api.py). The check-in time is set, once the servers
answer, to the next whole minute at least `--lead` seconds away, so the worker has planned
the prompts by then. Then it measures, from that due time, when each participant's
check-in prompt (the first SMS of the triggered check-in) reaches the stand-in: the first
and the last, the median, prompts per second over the whole run, and the CPU time each
process spent per prompt. Prints a table with the machine's core count.

The providers' own limits are set aside here (TWILIO_MPS=0: the stand-in takes
everything); the table says how long Twilio itself would take to send them at a long
code's 1 segment a second (see bot/clients/pace.py for how the clients keep those limits).

`--rasa stand-in` replaces the Rasa and action servers by a stand-in; with no Rasa store
in the database every prompt then takes the slow path (one `trigger_intent` call each, as
for a conversation that is not idle), and the stand-in does what that turn does outside
Rasa's dialogue: it opens the check-in record, and sends
the prompt and the first question through the project's own SMS output channel (as
Rasa's `twilio` output channel does: message log, delivery, the Twilio client), with no
NLU, policies, tracker or action-server calls. It measures the outreach worker and the
sending path alone, and runs without a trained model.

How a prompt goes out: the conversations here are idle, so each prompt takes the fast
path (bot/outreach/deferred.py): the worker sends the check-in's opening itself (the
prompt and the first question, two SMS) through the message log and the Twilio client,
SMS openings in groups of 64 (a few transactions per group), and Rasa's own
`trigger_intent` turn of each check-in runs later, its replies collected and compared
with what was sent ("Rasa turns of the openings" in the table: by the last prompt most
still wait; the worker runs them a few at a time after its sends, and the Rasa server
runs one before the participant's answer). The CPU per prompt is the worker's checks,
message-log writes and the Twilio library's two requests; `--workers 2` (as production
runs them, deploy/systemd) splits the prompts between two worker processes.

    python -m bench.outreach [--participants 10000] [--workers 2] [--database-url postgresql://...]
                             [--rasa stand-in] [--profile-worker FILE] [--profile-rasa FILE]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psutil
import yaml
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text, update

from bot.clients.twilio_sms import segments
from bot.core.settings import PROJECT_ROOT, Settings, get_settings
from bot.db.models import (
    Channel,
    DeferredTurn,
    OutreachStatus,
    Participant,
    ScheduledMessage,
)
from bot.db.session import migrate, session_scope
from bot.outreach.repository import Kind
from bot.participants.enrollment import enroll
from bot.study.config import load_study_config
from bot.supervisor import process_commands, process_environment, readiness_urls, responds
from tests.stand_ins.stack import free_port, started
from tests.stand_ins.twilio_api import TwilioApiStandIn

TWILIO_FROM = "+15555550100"
CHUNK = 500
POLL_SECONDS = 0.01


@dataclass
class Arrivals:
    """When each participant's first and second SMS reached the stand-in (perf_counter)."""

    first: dict[str, float] = field(default_factory=dict)
    second: dict[str, float] = field(default_factory=dict)
    segments: int = 0


class ArrivalWatch:
    """Timestamps, every 10 ms, the messages the Twilio stand-in has taken since."""

    def __init__(self, twilio: TwilioApiStandIn) -> None:
        self._twilio = twilio
        self.arrivals = Arrivals()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        seen = 0
        while not self._stop.is_set():
            now = time.perf_counter()
            messages, seen = self._twilio.messages_after(seen)
            for message in messages:
                to = message.get("To", "")
                self.arrivals.segments += segments(message.get("Body", ""))
                if to not in self.arrivals.first:
                    self.arrivals.first[to] = now
                elif to not in self.arrivals.second:
                    self.arrivals.second[to] = now
            time.sleep(POLL_SECONDS)

    def __enter__(self) -> ArrivalWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _study(path: Path) -> Path:
    """The example study without quiet hours or dose reminders (nothing else is due)."""
    raw = yaml.safe_load((PROJECT_ROOT / "studies" / "example.yml").read_text(encoding="utf-8"))
    raw["quiet_hours"] = {"start": "00:00", "end": "00:00"}
    raw["dose_reminders"] = {"enabled": False, "times": []}
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _phone(index: int) -> str:
    return f"+1555{index:07d}"


def _enroll(settings: Settings, count: int) -> float:
    """Enroll `count` SMS participants in UTC; seconds it took."""
    study = load_study_config(settings.study_config)
    started_at = time.perf_counter()
    for start in range(0, count, CHUNK):
        with session_scope(settings.database_url) as session:
            for index in range(start, min(count, start + CHUNK)):
                enroll(
                    session=session,
                    study=study,
                    study_id=f"BENCH-{index:05d}",
                    channel=Channel.SMS,
                    timezone_name="UTC",
                    phone=_phone(index),
                    language="en",
                )
    return time.perf_counter() - started_at


def _set_checkin_time(settings: Settings, due: datetime) -> None:
    """Everyone's check-in time: the due minute (UTC)."""
    with session_scope(settings.database_url) as session:
        session.execute(update(Participant).values(preferred_contact_time=due.time()))


def _planned(settings: Settings, due: datetime) -> int:
    with session_scope(settings.database_url) as session:
        return int(
            session.execute(
                select(func.count())
                .select_from(ScheduledMessage)
                .where(
                    ScheduledMessage.kind == Kind.CHECKIN_PROMPT.value,
                    ScheduledMessage.due_at == due,
                )
            ).scalar_one()
        )


def _statuses(settings: Settings, due: datetime) -> dict[str, int]:
    with session_scope(settings.database_url) as session:
        rows = session.execute(
            select(ScheduledMessage.status, func.count())
            .where(
                ScheduledMessage.kind == Kind.CHECKIN_PROMPT.value,
                ScheduledMessage.due_at == due,
            )
            .group_by(ScheduledMessage.status)
        ).all()
    return {OutreachStatus(status).value: int(count) for status, count in rows}


def _turn_statuses(settings: Settings) -> dict[str, int]:
    """How many of the openings' Rasa turns (bot.outreach.deferred) are in each status."""
    with session_scope(settings.database_url) as session:
        rows = session.execute(
            select(DeferredTurn.status, func.count()).group_by(DeferredTurn.status)
        ).all()
    return {status: count for status, count in rows}


def _cpu_seconds(processes: dict[str, psutil.Process]) -> dict[str, float]:
    """User + system CPU seconds of each process and its children so far."""
    spent = {}
    for name, process in processes.items():
        try:
            family = [process, *process.children(recursive=True)]
            spent[name] = sum(p.cpu_times().user + p.cpu_times().system for p in family)
        except psutil.Error:
            spent[name] = float("nan")
    return spent


def _environment(data_dir: Path, twilio: TwilioApiStandIn, concurrency: int) -> dict[str, str]:
    return {
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_FROM_NUMBER": TWILIO_FROM,
        "TWILIO_API_BASE_URL": twilio.base_url,
        "TWILIO_MPS": "0",  # the provider's limits aside: the stand-in takes everything
        "OUTREACH_CONCURRENCY": str(concurrency),
        "DATA_DIR": str(data_dir),
    }


def _reset_postgres(url: str) -> None:
    """An empty PostgreSQL database for the run (every table of the project dropped)."""
    from bot.db.session import get_engine

    with get_engine(url).begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


def _serve_stand_in(port: int) -> None:
    """The `--rasa stand-in` server (a process of its own; see the module docstring)."""
    from sanic import Sanic, response
    from sanic.request import Request
    from sanic.response import HTTPResponse

    from bot.channels.twilio_sms import TwilioSmsOutput
    from bot.db.repository import get_participant_by_sender, start_checkin
    from bot.db.session import in_session_async
    from bot.study.config import current_study
    from bot.study.wording import messages

    app = Sanic("rasa_stand_in")
    token = get_settings().rasa_api_token
    # The feeling question's buttons, as bot.actions.checkin.FEELING_CHOICES gives them.
    buttons = [
        {"title": title, "payload": payload}
        for payload, title in (
            ("1", "1 Very bad"),
            ("2", "2 Not good"),
            ("3", "3 OK"),
            ("4", "4 Good"),
            ("5", "5 Great"),
        )
    ]

    @app.get("/webhooks/health/")
    async def health(request: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @app.post("/conversations/<sender>/trigger_intent")
    async def trigger(request: Request, sender: str) -> HTTPResponse:
        if request.args.get("token") != token:
            return response.json({"error": "token"}, status=401)
        language = ((request.json or {}).get("entities") or {}).get("language") or "en"

        def open_checkin(session: Any) -> None:
            participant = get_participant_by_sender(session=session, sender_id=sender)
            if participant is not None:
                start_checkin(session=session, participant_id=participant.id)

        await in_session_async(open_checkin)
        study, output = current_study(), TwilioSmsOutput()
        for prompt in messages(study, "checkin_prompt", language=language):
            await output.send_text_message(sender, prompt)
        for question in messages(study, "ask_checkin_feeling", language=language):
            await output.send_text_with_buttons(sender, question, buttons)
        return response.json({"tracker": {"sender_id": sender}})

    app.run(host="127.0.0.1", port=port, access_log=False)


def _start_logged(command: str, settings: Settings, log_path: Path) -> subprocess.Popen:
    """Start one of the stack's commands (as `trialbot run` would) with output to a file."""
    with log_path.open("w") as log:
        return subprocess.Popen(  # noqa: S603 - our own command, quoted with shlex
            shlex.split(command),
            cwd=PROJECT_ROOT,
            env=process_environment(settings),
            stdout=log,
            stderr=log,
        )


@contextmanager
def _stand_in(settings: Settings, logs: Path) -> Iterator[list[subprocess.Popen]]:
    """The stand-in Rasa server as a process (in place of Rasa and the action server)."""
    logs.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bench.outreach", "--serve-stand-in", str(settings.rasa_port)]
    with (logs / "rasa-stand-in.log").open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - our own command
            command, cwd=PROJECT_ROOT, env=process_environment(settings), stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while not responds(f"{settings.rasa_url}/webhooks/health/"):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the stand-in Rasa server did not start: see its log")
            time.sleep(0.2)
        yield [process, process]
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def _profiled_rasa(settings: Settings, logs: Path, into: str) -> Iterator[list[subprocess.Popen]]:
    """The action server as `trialbot run` starts it, and the Rasa server under cProfile."""
    command = process_commands(settings)["rasa"].replace(
        " -m bot.rasa_server", f" -m cProfile -o {shlex.quote(into)} -m bot.rasa_server"
    )
    with started(settings, logs, ["actions"], readiness_urls(settings)[1:2]) as actions:
        rasa = _start_logged(command, settings, logs / "rasa.log")
        try:
            deadline = time.monotonic() + 300
            while not responds(readiness_urls(settings)[0]):
                if time.monotonic() > deadline or rasa.poll() is not None:
                    raise RuntimeError("the Rasa server did not start: see its log")
                time.sleep(0.5)
            yield [rasa, *actions]
        finally:
            rasa.terminate()
            rasa.wait(timeout=60)


def main() -> None:
    """Run the benchmark and print the figures."""
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-stand-in":
        _serve_stand_in(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument(
        "--database-url", default="", help="PostgreSQL URL (its public schema is emptied)"
    )
    parser.add_argument("--concurrency", type=int, default=get_settings().outreach_concurrency)
    parser.add_argument("--interval", type=float, default=5.0, help="the worker's tick (s)")
    parser.add_argument("--workers", type=int, default=1, help="outreach worker processes")
    parser.add_argument("--lead", type=float, default=45.0, help="seconds from start to due")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after (s)")
    parser.add_argument(
        "--rasa", choices=("real", "stand-in"), default="real", help="see the module docstring"
    )
    parser.add_argument("--profile-worker", default="", help="cProfile the worker into this file")
    parser.add_argument(
        "--profile-rasa", default="", help="cProfile the Rasa server into this file"
    )
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="outreach-bench-") as folder,
        TwilioApiStandIn() as twilio,
    ):
        data_dir = Path(folder)
        os.environ.update(_environment(data_dir, twilio, args.concurrency))
        database_url = args.database_url or f"sqlite:///{data_dir / 'trialbot.db'}"
        os.environ["DATABASE_URL"] = database_url
        get_settings.cache_clear()
        settings = Settings(
            data_dir=data_dir,
            database_url=database_url,
            study_config=_study(data_dir / "study.yml"),
            rasa_port=free_port(),
            actions_port=free_port(),
            web_port=free_port(),
            rasa_api_token=secrets.token_urlsafe(16),
            action_server_token=secrets.token_urlsafe(16),
        )
        os.environ["TWILIO_WEBHOOK_BASE_URL"] = settings.rasa_url
        get_settings.cache_clear()
        if args.rasa == "real" and not settings.rasa_model.exists():
            raise SystemExit(
                f"no trained model at {settings.rasa_model} (make train); "
                "or measure without Rasa: --rasa stand-in"
            )
        if args.database_url:
            _reset_postgres(database_url)
        migrate(database_url)
        print(f"enrolling {args.participants} participants ...", flush=True)
        enrolled_in = _enroll(settings, args.participants)
        print(f"  {enrolled_in:.0f} s; starting the Rasa and action servers ...", flush=True)
        logs = data_dir / "logs"
        ready = readiness_urls(settings)[:2]
        servers_up = (
            _profiled_rasa(settings, logs, args.profile_rasa)
            if args.profile_rasa
            else started(settings, logs, ["rasa", "actions"], ready)
            if args.rasa == "real"
            else _stand_in(settings, logs)
        )
        with servers_up as servers:
            now = datetime.now(timezone.utc)
            due = (now + timedelta(seconds=args.lead + 60)).replace(second=0, microsecond=0)
            _set_checkin_time(settings, due)
            command = f"{process_commands(settings)['worker']} --interval {args.interval}"
            if args.profile_worker:
                command = command.replace(
                    " -m bot.outreach.worker",
                    f" -m cProfile -o {shlex.quote(args.profile_worker)} -m bot.outreach.worker",
                )
            workers = [
                _start_logged(command, settings, logs / f"worker{index}.log")
                for index in range(1, max(1, args.workers) + 1)
            ]
            try:
                figures = _measure(settings, twilio, servers, workers, due, args)
            finally:
                for worker in workers:
                    worker.terminate()
                for worker in workers:
                    try:
                        worker.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        worker.kill()
        _print(figures, args, database_url)


@dataclass
class Figures:
    """What one run measured."""

    due: datetime
    planned_at: float
    arrivals: Arrivals
    due_perf: float
    cpu: dict[str, float]
    statuses: dict[str, int]
    participants: int
    timed_out: bool
    turns: dict[str, int] = field(default_factory=dict)


def _measure(
    settings: Settings,
    twilio: TwilioApiStandIn,
    servers: list[subprocess.Popen],
    workers: list[subprocess.Popen],
    due: datetime,
    args: argparse.Namespace,
) -> Figures:
    """Wait for the due time and for every prompt to arrive at the stand-in."""
    processes = {
        "rasa": psutil.Process(servers[0].pid),
        **({"actions": psutil.Process(servers[1].pid)} if servers[1] is not servers[0] else {}),
        **{
            f"worker{index}" if len(workers) > 1 else "worker": psutil.Process(worker.pid)
            for index, worker in enumerate(workers, start=1)
        },
    }
    print(f"check-in time {due:%H:%M:%S} UTC; waiting for the worker to plan ...", flush=True)
    planned_at = float("nan")
    while datetime.now(timezone.utc) < due:
        if planned_at != planned_at and _planned(settings, due) >= args.participants:
            planned_at = (datetime.now(timezone.utc) - due).total_seconds()
        time.sleep(0.5)
    if planned_at != planned_at:
        print("  not all prompts were planned by the due time", flush=True)
    before = _cpu_seconds(processes)
    # perf_counter at the due time (now, to within the loop's half second, corrected).
    due_perf = time.perf_counter() - (datetime.now(timezone.utc) - due).total_seconds()
    deadline = time.perf_counter() + args.timeout
    timed_out = False
    with ArrivalWatch(twilio) as watch:
        while len(watch.arrivals.second) < args.participants:
            stopped = any(worker.poll() is not None for worker in workers)
            if time.perf_counter() > deadline or stopped:
                timed_out = True
                break
            time.sleep(0.5)
        time.sleep(0.2)
    after = _cpu_seconds(processes)
    return Figures(
        due=due,
        planned_at=planned_at,
        arrivals=watch.arrivals,
        due_perf=due_perf,
        cpu={name: after[name] - before[name] for name in processes},
        statuses=_statuses(settings, due),
        turns=_turn_statuses(settings),
        participants=args.participants,
        timed_out=timed_out,
    )


def _print(figures: Figures, args: argparse.Namespace, database_url: str) -> None:
    arrivals = figures.arrivals
    prompts = sorted(at - figures.due_perf for at in arrivals.first.values())
    questions = sorted(at - figures.due_perf for at in arrivals.second.values())
    count = len(prompts)
    database = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    print()
    print(
        f"{figures.participants} participants due at {figures.due:%H:%M:%S} UTC, {database}, "
        f"{psutil.cpu_count()} CPU cores, OUTREACH_CONCURRENCY={args.concurrency}, "
        f"worker tick {args.interval:g} s, "
        + (
            f"1 Rasa server, 1 action server, {args.workers} worker(s)"
            if args.rasa == "real"
            else f"Rasa STAND-IN (no dialogue turn), {args.workers} worker(s)"
        )
    )
    if figures.timed_out:
        print(f"NOT COMPLETE: stopped after {args.timeout:g} s (see the logs)")
    print(f"{'':<44} {'seconds':>10}")
    print(f"{'all prompts planned (s before due)':<44} {-figures.planned_at:>10.1f}")
    if prompts:
        window = prompts[-1] - prompts[0]
        print(f"{'due -> first prompt at the provider':<44} {prompts[0]:>10.2f}")
        print(f"{'due -> median prompt':<44} {statistics.median(prompts):>10.2f}")
        print(f"{'due -> last prompt at the provider':<44} {prompts[-1]:>10.2f}")
        if questions:
            print(f"{'due -> last first question (2nd SMS)':<44} {questions[-1]:>10.2f}")
        rate = (count - 1) / window if window > 0 else float("nan")
        print(f"{'prompts at the provider':<44} {count:>10}")
        print(f"{'prompts per second (first to last)':<44} {rate:>10.1f}")
        print(f"{'prompts per second (due to last)':<44} {count / prompts[-1]:>10.1f}")
    for name, seconds in figures.cpu.items():
        per = seconds / count * 1000 if count else float("nan")
        print(f"{'CPU ' + name + ' (s; ms per prompt)':<44} {seconds:>10.1f} {per:>8.1f}")
    print(f"{'prompt statuses':<44} {figures.statuses}")
    print(f"{'Rasa turns of the openings, by the last one':<44} {figures.turns}")
    print(
        f"At Twilio's own pace: {arrivals.segments} SMS segments from one long code (1 segment/s) "
        f"take {arrivals.segments / 3600:.1f} h to leave Twilio's queue."
    )


if __name__ == "__main__":
    main()
