"""Benchmark: from a participant's message to the staff alert leaving the system.

Starts the whole assistant (`tests.stand_ins.stack.running`: Rasa server, action server, web app,
outreach and alert workers) on free ports with a fresh database, with Telegram and SMS
pointed at the local stand-in APIs (tests/stand_ins) and a study whose urgent alerts go to
an on-call nurse by Telegram and SMS. It then sends urgent messages ("i want to talk to a
person": an urgent handoff escalation) one at a time to the REST webhook, each from a
participant enrolled beforehand (a web-chat visitor is test traffic and pages nobody), and
measures, for each, the time from just before the POST to the moment the alert request
arrives at the stand-in Telegram API and at the stand-in Twilio API (a watcher thread
timestamps each request as it arrives, to about a millisecond). A random pause of up to a second
between messages keeps them from falling into step with the alert worker's 0.5 s poll.
Prints p50, p95 and max.

    python -m bench.alert_latency [--messages 30]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import socket
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from cryptography.fernet import Fernet

from bot.core.settings import PROJECT_ROOT, Settings, get_settings
from bot.db.models import Channel, StaffRole
from bot.db.repository import enroll_participant
from bot.db.session import migrate, session_scope
from bot.staff.audit import SYSTEM_ACTOR
from bot.staff.auth import create_user
from tests.stand_ins.stack import running
from tests.stand_ins.telegram_api import TelegramApiStandIn
from tests.stand_ins.twilio_api import TwilioApiStandIn

MESSAGE = "i want to talk to a person"
NURSE = "bench.nurse"
NURSE_PHONE = "+15555550240"
NURSE_CHAT = 7300001
TWILIO_FROM = "+15555550100"
WARM_UP = 2
TIMEOUT_SECONDS = 15.0
MAX_PAUSE_SECONDS = 1.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ArrivalWatch:
    """Timestamps each request the stand-ins receive, as it arrives."""

    def __init__(self, telegram: TelegramApiStandIn, twilio: TwilioApiStandIn) -> None:
        self._telegram, self._twilio = telegram, twilio
        self.telegram: list[float] = []  # arrival times of alerts to the nurse's chat
        self.sms: list[float] = []  # arrival times of alerts to the nurse's phone
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        seen_telegram = seen_sms = 0
        while not self._stop.is_set():
            now = time.perf_counter()
            calls = self._telegram.calls("sendMessage")
            for call in calls[seen_telegram:]:
                if str(call.params.get("chat_id")) == str(NURSE_CHAT):
                    self.telegram.append(now)
            seen_telegram = len(calls)
            messages = self._twilio.messages
            for message in messages[seen_sms:]:
                if message.get("To") == NURSE_PHONE:
                    self.sms.append(now)
            seen_sms = len(messages)
            time.sleep(0.001)

    def __enter__(self) -> ArrivalWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass
class Sample:
    """One urgent message: how long until the reply and until each alert arrived."""

    reply: float
    telegram: float
    sms: float


def _study(path: Path) -> Path:
    """The example study, with urgent alerts to the benchmark's nurse by Telegram and SMS."""
    raw = yaml.safe_load((PROJECT_ROOT / "studies" / "example.yml").read_text(encoding="utf-8"))
    raw["escalation"]["alerts"] = {
        "channels": {"emergency": ["telegram", "sms"], "urgent": ["telegram", "sms"]},
        "on_call": [NURSE],
    }
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _environment(
    data_dir: Path, telegram: TelegramApiStandIn, twilio: TwilioApiStandIn
) -> dict[str, str]:
    return {
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_WEBHOOK_SECRET": "bench-secret",
        "TELEGRAM_API_BASE_URL": telegram.base_url,
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_FROM_NUMBER": TWILIO_FROM,
        "TWILIO_API_BASE_URL": twilio.base_url,
        "DATA_DIR": str(data_dir),
    }


def _add_nurse(settings: Settings) -> None:
    migrate(settings.database_url)
    with session_scope(settings.database_url) as session:
        create_user(
            session=session,
            actor=SYSTEM_ACTOR,
            username=NURSE,
            display_name="Bench Nurse",
            role=StaffRole.STAFF,
            password=secrets.token_urlsafe(16),
            phone=NURSE_PHONE,
            telegram_chat_id=str(NURSE_CHAT),
        )


def _enroll_real(settings: Settings, sender: str) -> None:
    """A participant on the web chat who is not test traffic (web-chat visitors page nobody)."""
    with session_scope(settings.database_url) as session:
        enroll_participant(
            session=session,
            study_id=f"BENCH-{secrets.token_hex(4).upper()}",
            channel=Channel.WEB,
            sender_id=sender,
        )


def _wait(arrivals: list[float], count: int) -> float:
    deadline = time.perf_counter() + TIMEOUT_SECONDS
    while len(arrivals) < count:
        if time.perf_counter() > deadline:
            raise RuntimeError("no alert arrived: see the logs folder")
        time.sleep(0.002)
    return arrivals[count - 1]


def _send(settings: Settings, watch: ArrivalWatch, index: int) -> Sample:
    time.sleep(random.uniform(0.0, MAX_PAUSE_SECONDS))
    url = f"{settings.rasa_url}/webhooks/rest/webhook"
    sender = f"web-bench{secrets.token_hex(6)}"
    _enroll_real(settings, sender)
    started = time.perf_counter()
    reply = httpx.post(url, json={"sender": sender, "message": MESSAGE}, timeout=60)
    replied = time.perf_counter()
    reply.raise_for_status()
    telegram = _wait(watch.telegram, index + 1)
    sms = _wait(watch.sms, index + 1)
    return Sample(replied - started, telegram - started, sms - started)


def _row(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    return (
        f"{name:<34} {statistics.median(ordered) * 1000:>8.0f} {p95 * 1000:>8.0f} "
        f"{ordered[-1] * 1000:>8.0f}"
    )


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=30, help="urgent messages to time")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="alert-bench-") as folder,
        TelegramApiStandIn() as telegram,
        TwilioApiStandIn() as twilio,
    ):
        data_dir = Path(folder)
        os.environ.update(_environment(data_dir, telegram, twilio))
        get_settings.cache_clear()
        settings = Settings(
            data_dir=data_dir,
            database_url=f"sqlite:///{data_dir / 'trialbot.db'}",
            study_config=_study(data_dir / "study.yml"),
            rasa_port=free_port(),
            actions_port=free_port(),
            web_port=free_port(),
            rasa_api_token=secrets.token_urlsafe(16),
        )
        _add_nurse(settings)
        print("starting the assistant (about 30 s) ...", flush=True)
        with running(settings, data_dir / "logs"), ArrivalWatch(telegram, twilio) as watch:
            samples = [_send(settings, watch, index) for index in range(WARM_UP + args.messages)]
        measured = samples[WARM_UP:]
        print(f"\n{len(measured)} urgent messages, one at a time ({MESSAGE!r}), in ms:")
        print(f"{'':<34} {'p50':>8} {'p95':>8} {'max':>8}")
        print(_row("message -> assistant's reply", [s.reply for s in measured]))
        print(_row("message -> Telegram alert arrives", [s.telegram for s in measured]))
        print(_row("message -> SMS alert arrives", [s.sms for s in measured]))


if __name__ == "__main__":
    main()
