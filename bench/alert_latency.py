"""Benchmark: from a participant's message to the staff alert leaving the system.

Starts the whole assistant (`tests.stand_ins.stack.running`: Rasa server, action server, web app,
outreach and alert workers) on free ports with a fresh database, with Telegram and SMS
pointed at the local stand-in APIs (tests/stand_ins) and a study whose urgent alerts go to
an on-call nurse by Telegram and SMS. It then sends urgent messages ("i want to talk to a
person": an urgent handoff escalation) one at a time to the web chat channel, each from a
participant enrolled beforehand (a web-chat visitor is test traffic and pages nobody).

Each alert is matched to its message by ID, never by order or time: the message's
message-log ID (the web chat records it before the turn), the escalation raised for that
message (`Escalation.message_log_id`), that escalation's alert deliveries and the provider
IDs they record (`AlertDelivery.external_id`: Twilio's message SID, Telegram's message ID),
and the request that provider ID was given to at the stand-in. A watcher thread timestamps
each request as it arrives at the stand-ins, to about a millisecond; the time measured is
from just before the POST to that arrival. A message whose reply is not the handoff
answer, that raised no escalation, or whose alert did not arrive in time is an error:
counted and left out of the figures. A random pause of up to a second between messages
keeps them from falling into step with the alert worker's 0.5 s poll. Prints p50
(median), p95 (nearest rank) and max.

    python -m bench.alert_latency [--messages 30] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

import httpx
import yaml
from cryptography.fernet import Fernet
from sqlalchemy import select

from bench.stats import median, nearest_rank
from bot.core.settings import PROJECT_ROOT, Settings, get_settings
from bot.db.models import (
    AlertChannel,
    AlertDelivery,
    AlertKind,
    Channel,
    Direction,
    Escalation,
    MessageLog,
    StaffRole,
)
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
POLL_SECONDS = 0.02
# A phrase of the handoff answer (bot/study/wording.py: the reply to a request for a person).
EXPECTED_REPLY = ("asked the study nurse",)

T = TypeVar("T")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ArrivalWatch:
    """Timestamps each request the stand-ins receive for the nurse, as it arrives, by the
    provider ID it is given: Twilio's message SID, and Telegram's message ID (the stand-in
    numbers a chat's messages 1, 2, 3, ... in the order it accepts them)."""

    def __init__(self, telegram: TelegramApiStandIn, twilio: TwilioApiStandIn) -> None:
        self._telegram, self._twilio = telegram, twilio
        self.telegram: dict[int, float] = {}  # message ID in the nurse's chat -> arrival
        self.sms: dict[str, float] = {}  # message SID to the nurse's phone -> arrival
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        seen_telegram = seen_sms = 0
        while not self._stop.is_set():
            now = time.perf_counter()
            calls = self._telegram.calls("sendMessage")
            for call in calls[seen_telegram:]:
                if str(call.params.get("chat_id")) == str(NURSE_CHAT):
                    self.telegram[len(self.telegram) + 1] = now
            seen_telegram = len(calls)
            created = self._twilio.created
            for resource in created[seen_sms:]:
                if resource.get("to") == NURSE_PHONE:
                    self.sms[str(resource["sid"])] = now
            seen_sms = len(created)
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
        "TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        "TELEGRAM_API_BASE_URL": telegram.base_url,
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_FROM_NUMBER": TWILIO_FROM,
        "TWILIO_API_BASE_URL": twilio.base_url,
        # Required when SMS is on; nothing calls it here (no inbound SMS in this benchmark).
        "TWILIO_WEBHOOK_BASE_URL": "https://bench.example.org",
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


class Unmatched(Exception):
    """A message whose escalation or alert could not be found by ID in time."""


def _poll(find: Callable[[], T | None], what: str) -> T:
    """What `find` returns once it is not None, polled until TIMEOUT_SECONDS."""
    deadline = time.perf_counter() + TIMEOUT_SECONDS
    while (found := find()) is None:
        if time.perf_counter() > deadline:
            raise Unmatched(what)
        # The arrival times are the watcher's: polling slower only spares the database.
        time.sleep(POLL_SECONDS)
    return found


def _inbound_id(settings: Settings, sender: str) -> int | None:
    """The message-log ID of the sender's message (each sender sends one)."""
    with session_scope(settings.database_url) as session:
        return session.execute(
            select(MessageLog.id).where(
                MessageLog.sender_id == sender, MessageLog.direction == Direction.INBOUND
            )
        ).scalar_one_or_none()


def _escalation_id(settings: Settings, message_log_id: int) -> int | None:
    """The escalation raised for that message."""
    with session_scope(settings.database_url) as session:
        return session.execute(
            select(Escalation.id).where(Escalation.message_log_id == message_log_id)
        ).scalar_one_or_none()


def _provider_id(settings: Settings, escalation_id: int, channel: AlertChannel) -> str | None:
    """The provider's ID of the escalation's first alert on a channel, once it is sent."""
    with session_scope(settings.database_url) as session:
        return session.execute(
            select(AlertDelivery.external_id).where(
                AlertDelivery.escalation_id == escalation_id,
                AlertDelivery.kind == AlertKind.ALERT,
                AlertDelivery.round == 0,
                AlertDelivery.channel == channel,
                AlertDelivery.external_id.is_not(None),
            )
        ).scalar_one_or_none()


def _send(settings: Settings, watch: ArrivalWatch) -> Sample:
    """One urgent message from a new participant; its reply and alerts, found by ID."""
    time.sleep(random.uniform(0.0, MAX_PAUSE_SECONDS))
    url = f"{settings.rasa_url}/webhooks/rest/webhook"
    sender = f"web-bench{secrets.token_hex(6)}"
    _enroll_real(settings, sender)
    started = time.perf_counter()
    reply = httpx.post(url, json={"sender": sender, "message": MESSAGE}, timeout=60)
    replied = time.perf_counter()
    texts = " ".join(str(m.get("text") or "") for m in reply.json()) if reply.is_success else ""
    if not any(phrase in texts.lower() for phrase in EXPECTED_REPLY):
        raise Unmatched(f"not the handoff reply: HTTP {reply.status_code} {texts[:100]!r}")
    log_id = _poll(lambda: _inbound_id(settings, sender), "no message-log row")
    escalation = _poll(lambda: _escalation_id(settings, log_id), "no escalation for the message")
    sid = _poll(lambda: _provider_id(settings, escalation, AlertChannel.SMS), "no SMS alert sent")
    telegram_id = _poll(
        lambda: _provider_id(settings, escalation, AlertChannel.TELEGRAM),
        "no Telegram alert sent",
    )
    message_id = int(telegram_id.rsplit(":", 1)[-1])
    sms_at = _poll(lambda: watch.sms.get(sid), "the SMS alert's SID never arrived")
    telegram_at = _poll(lambda: watch.telegram.get(message_id), "the Telegram alert never arrived")
    return Sample(replied - started, telegram_at - started, sms_at - started)


def _row(name: str, values: list[float]) -> str:
    return (
        f"{name:<34} {median(values) * 1000:>8.0f} {nearest_rank(values, 95) * 1000:>8.0f} "
        f"{max(values) * 1000:>8.0f}"
    )


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=30, help="urgent messages to time")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (5 messages)")
    args = parser.parse_args()
    if args.quick:
        args.messages = 5
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
        samples: list[Sample] = []
        errors: list[str] = []
        with running(settings, data_dir / "logs"), ArrivalWatch(telegram, twilio) as watch:
            for index in range(WARM_UP + args.messages):
                try:
                    sample = _send(settings, watch)
                except Unmatched as error:
                    if index >= WARM_UP:
                        errors.append(str(error))
                    continue
                if index >= WARM_UP:
                    samples.append(sample)
        print(
            f"\n{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores: "
            f"{args.messages} urgent messages, one at a time ({MESSAGE!r}), each alert "
            f"matched to its message by ID; {len(errors)} errors (left out), in ms:"
        )
        for reason, count in Counter(errors).most_common():
            print(f"  error: {reason} ({count})")
        if not samples:
            return
        print(f"{'':<34} {'p50':>8} {'p95':>8} {'max':>8}")
        print(_row("message -> assistant's reply", [s.reply for s in samples]))
        print(_row("message -> Telegram alert arrives", [s.telegram for s in samples]))
        print(_row("message -> SMS alert arrives", [s.sms for s in samples]))


if __name__ == "__main__":
    main()
