"""The production topology under load, with each process type killed in turn (`make test-prod`).

Started as production runs it (README "Production"), on this machine's PostgreSQL and
Redis: nginx with the shipped site config in front of 2 Rasa servers (Rasa's own
RedisLockStore), 2 action servers and the web app, plus 2 outreach and 2 alert workers;
Twilio is the local stand-in. Every process runs under `bot.core.keepalive`, which starts
it again when it dies, as systemd does in production.

Participants text over signed Twilio webhooks through nginx, many at once, each in order.
In each phase one instance of one process type is killed with SIGKILL mid-load. Then:

- every acknowledged inbound message is handled exactly once (one turn in Rasa's tracker
  store per MessageSid) and in order per participant; none is lost;
- no answer reaches a participant twice;
- every due check-in prompt is sent exactly once (an outreach worker killed mid-send);
- an unacknowledged emergency alert is re-escalated to the backup on time (an alert
  worker killed after the first round), and nobody gets a round twice.

The counts per fault (sent, acknowledged, handled, lost, duplicated) are printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psutil
import pytest
import redis
import yaml
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text
from twilio.request_validator import RequestValidator

from bot.core.settings import PROJECT_ROOT, Settings
from bot.db.models import (
    AlertDelivery,
    Channel,
    Direction,
    Escalation,
    EscalationLevel,
    MessageLog,
    Participant,
    StaffRole,
)
from bot.db.session import migrate, session_scope
from bot.participants.enrollment import enroll
from bot.staff.audit import SYSTEM_ACTOR
from bot.staff.auth import create_user
from bot.study.config import load_study_config
from bot.study.wording import messages
from bot.supervisor import process_commands, process_environment
from tests.conftest import EXAMPLE_STUDY, FIGURES
from tests.stand_ins.edge import Edge, free_port, running_edge
from tests.stand_ins.twilio_api import TwilioApiStandIn

pytestmark = [pytest.mark.slow, pytest.mark.prod]

FROM = "+15555550100"
QUESTIONS = ("what is a placebo", "do i get paid for this", "how long does the study last")
EMERGENCY_TEXT = "crushing chest pain"
PARTICIPANTS = 8
PROMPTED = 12
NURSE_PHONE, BACKUP_PHONE = "+15555550901", "+15555550902"
READY_SECONDS = 420
HANDLED_SECONDS = 150


def daytime_zone() -> str:
    """A time zone where it is now between 10:00 and 18:00 (no quiet hours)."""
    now = datetime.now(ZoneInfo("UTC"))
    for name in (
        "Asia/Tokyo",
        "Europe/Berlin",
        "America/New_York",
        "America/Los_Angeles",
        "Pacific/Auckland",
        "Asia/Kolkata",
        "America/Sao_Paulo",
        "Pacific/Honolulu",
    ):
        if 10 <= now.astimezone(ZoneInfo(name)).hour < 18:
            return name
    return "Etc/GMT-12"  # fmt: skip


@dataclass
class Kept:
    """One process under keepalive, and how to kill the process it keeps."""

    name: str
    process: subprocess.Popen

    def child(self) -> psutil.Process | None:
        children = psutil.Process(self.process.pid).children()
        return children[0] if children else None

    def kill_child(self) -> int:
        """SIGKILL the kept process (keepalive starts it again); its PID."""
        child = self.child()
        assert child is not None, f"{self.name} is not running"
        child.send_signal(signal.SIGKILL)
        return child.pid


@dataclass
class Topology:
    settings: Settings
    edge: Edge
    twilio: TwilioApiStandIn
    kept: dict[str, list[Kept]]
    url: str
    logs: Path
    participants: list[str] = field(default_factory=list)  # phone numbers

    def text(self, phone: str, body: str) -> tuple[str, int]:
        """One signed Twilio webhook through nginx; the MessageSid and the status."""
        sid = "SM" + secrets.token_hex(16)
        params = {"MessageSid": sid, "From": phone, "To": FROM, "Body": body, "NumMedia": "0"}
        url = f"{self.edge.public}/webhooks/twilio/webhook"
        signature = RequestValidator(self.twilio.auth_token).compute_signature(url, params)
        try:
            reply = httpx.post(
                url,
                data=params,
                headers={"X-Twilio-Signature": signature},
                verify=False,  # noqa: S501 - the test certificate
                timeout=30,
            )
        except httpx.HTTPError:
            return sid, 0
        return sid, reply.status_code

    def sms_to(self, phone: str) -> list[str]:
        return [m["Body"] for m in self.twilio.messages if m.get("To") == phone]


def tracker_turns(url: str) -> Counter[str]:
    """How many times Rasa took each message in (user events per message ID)."""
    with session_scope(url) as session:
        rows = session.execute(text("SELECT data FROM events WHERE type_name = 'user'"))
        return Counter(json.loads(row[0]).get("message_id") for row in rows)


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Topology]:
    model = PROJECT_ROOT / "models" / "trialbot.tar.gz"
    if not model.exists():
        pytest.fail(f"no trained model at {model}: run `make train` first")
    root = tmp_path_factory.mktemp("prod")
    logs = root / "logs"
    logs.mkdir()
    store = redis.Redis(host="127.0.0.1", port=6379, db=7)
    try:
        store.flushdb()
    except redis.ConnectionError:
        pytest.fail("Redis is not running on 127.0.0.1:6379")
    study_data = yaml.safe_load(EXAMPLE_STUDY.read_text())
    study_data["escalation"]["response_minutes"] = {"emergency": 1, "urgent": 1, "routine": 1440}
    study_data["escalation"]["alerts"].update(
        {"on_call": ["nurse.kim"], "backup": ["dr.okafor"], "everyone": ["nurse.kim"]}
    )
    study_data["escalation"]["alerts"]["channels"] = {
        "emergency": ["sms", "console"], "urgent": ["sms", "console"], "routine": ["console"]
    }  # fmt: skip
    study_data["escalation"]["alerts"].pop("telegram_group_chat", None)
    study_path = root / "study.yml"
    study_path.write_text(yaml.safe_dump(study_data))
    study = load_study_config(study_path)

    rasa_ports, action_ports, web_ports = (
        [free_port(), free_port()],
        [free_port(), free_port()],
        [free_port()],
    )
    twilio = TwilioApiStandIn().start()
    with running_edge(root, rasa=rasa_ports, actions=action_ports, web=web_ports) as edge:
        environment = {
            "DATABASE_URL": postgres_url,
            "DATA_DIR": str(root / "var"),
            "STUDY_CONFIG": str(study_path),
            "REDIS_URL": "redis://127.0.0.1:6379/7",
            "RASA_URL": edge.internal_rasa,
            "ACTION_SERVER_URL": edge.internal_actions,
            "RASA_API_TOKEN": secrets.token_urlsafe(24),
            "ACTION_SERVER_TOKEN": secrets.token_urlsafe(24),
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "PUBLIC_BASE_URL": edge.public,
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_FROM_NUMBER": FROM,
            "TWILIO_API_BASE_URL": twilio.base_url,
            "TWILIO_WEBHOOK_BASE_URL": edge.public,
            "TELEGRAM_BOT_TOKEN": "",
            "WEB_CHAT_ENABLED": "false",
            "DEMO_DATA": "false",
            "INBOUND_GRACE_SECONDS": "5",
            "INBOUND_SWEEP_SECONDS": "2",
            "INBOUND_LEASE_SECONDS": "15",
            "OUTREACH_LEASE_SECONDS": "20",
            "TRUSTED_PROXIES": "127.0.0.1",
        }
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        from bot.core.settings import get_settings

        get_settings.cache_clear()
        settings = Settings()
        migrate(postgres_url)
        zone = daytime_zone()
        phones = [f"+1555555{1000 + n:04d}" for n in range(PARTICIPANTS)]
        with session_scope(postgres_url) as session:
            for username, name, phone in (
                ("nurse.kim", "Nurse Kim", NURSE_PHONE),
                ("dr.okafor", "Dr Okafor", BACKUP_PHONE),
            ):
                create_user(
                    session=session, actor=SYSTEM_ACTOR, username=username, display_name=name,
                    role=StaffRole.STAFF, password=secrets.token_urlsafe(16), phone=phone,
                )  # fmt: skip
            far = (
                (datetime.now(ZoneInfo(zone)) + timedelta(hours=6))
                .time()
                .replace(second=0, microsecond=0)
            )
            for n, phone in enumerate(phones):
                enroll(
                    session=session, study=study, study_id=f"L-{n:03d}", channel=Channel.SMS,
                    timezone_name=zone, phone=phone, checkin_time=far,
                )  # fmt: skip

        kept: dict[str, list[Kept]] = {}
        python = Path(sys.executable)

        def start(name: str, index: int, command: str) -> None:
            log = (logs / f"{name}-{index}.log").open("w")
            keeper = subprocess.Popen(  # noqa: S603 - our own commands
                [str(python), "-m", "bot.core.keepalive", f"{name}-{index}", "--", command],
                cwd=PROJECT_ROOT,
                env=process_environment(settings),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            kept.setdefault(name, []).append(Kept(f"{name}-{index}", keeper))

        health: list[str] = []
        for index, port in enumerate(rasa_ports):
            commands = process_commands(settings.copy(update={"rasa_port": port}))
            start("rasa", index, commands["rasa"])
            health.append(f"http://127.0.0.1:{port}/webhooks/health/")
        for index, port in enumerate(action_ports):
            commands = process_commands(settings.copy(update={"actions_port": port}))
            start("actions", index, commands["actions"])
            health.append(f"http://127.0.0.1:{port}/healthz")
        for index, port in enumerate(web_ports):
            commands = process_commands(settings.copy(update={"web_port": port}))
            start("web", index, commands["web"])
        for name, key in (("outreach", "worker"), ("alerts", "alerts")):
            for index in range(2):
                port = free_port()
                interval = "2" if name == "outreach" else "0.5"
                command = process_commands(settings)[key]
                start(name, index, f"{command} --interval {interval} --health-port {port}")
                health.append(f"http://127.0.0.1:{port}/healthz")
        try:
            if not wait_until(lambda: all(healthy(url) for url in health), READY_SECONDS, 2):
                tails = "\n".join(
                    f"--- {log.name}\n{log.read_text()[-1500:]}" for log in sorted(logs.iterdir())
                )
                pytest.fail(f"the topology did not become healthy:\n{tails}")
            yield Topology(settings, edge, twilio, kept, postgres_url, logs, phones)
        finally:
            for keepers in kept.values():
                for keeper in keepers:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(keeper.process.pid, signal.SIGTERM)
            for keepers in kept.values():
                for keeper in keepers:
                    try:
                        keeper.process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        os.killpg(keeper.process.pid, signal.SIGKILL)
            twilio.stop()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            get_settings.cache_clear()


# --- the load and its checks ---------------------------------------------------------


@dataclass
class Phase:
    fault: str
    sent: int = 0
    acknowledged: list[tuple[str, str]] = field(default_factory=list)  # (phone, sid) in order
    handled: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0

    def line(self) -> str:
        return (
            f"{self.fault}: sent {self.sent}, acknowledged {len(self.acknowledged)}, "
            f"handled {self.handled}, lost {self.lost}, duplicated {self.duplicated}"
        )


RESULTS: list[Phase] = []


def load(topology: Topology, phase: Phase, kill: Callable[[], None] | None) -> None:
    """Every participant sends the questions in order; `kill` runs once the load is on."""
    lock = threading.Lock()

    def participant(phone: str) -> None:
        for question in QUESTIONS:
            sid, status = topology.text(phone, question)
            with lock:
                phase.sent += 1
                if status == 200:
                    phase.acknowledged.append((phone, sid))
            time.sleep(0.3)

    threads = [threading.Thread(target=participant, args=(p,)) for p in topology.participants]
    for thread in threads:
        thread.start()
    if kill is not None:
        time.sleep(1.0)
        kill()
    for thread in threads:
        thread.join(timeout=120)


def check_handled(topology: Topology, phase: Phase) -> None:
    sids = [sid for _, sid in phase.acknowledged]

    def all_handled() -> bool:
        with session_scope(topology.url) as session:
            done = session.execute(
                select(MessageLog.external_id).where(
                    MessageLog.external_id.in_(sids), MessageLog.handled_at.is_not(None)
                )
            ).scalars()
            return len(set(done)) == len(sids)

    wait_until(all_handled, HANDLED_SECONDS, 1)
    time.sleep(2)  # any duplicate turn would land now
    turns = tracker_turns(topology.url)
    with session_scope(topology.url) as session:
        rows = session.execute(
            select(MessageLog.external_id, MessageLog.handled_at, MessageLog.sender_id).where(
                MessageLog.external_id.in_(sids)
            )
        ).all()
    handled = {sid for sid, at, _ in rows if at is not None}
    phase.handled = sum(1 for sid in sids if turns[sid] >= 1 and sid in handled)
    phase.lost = sum(1 for sid in sids if turns[sid] == 0 or sid not in handled)
    phase.duplicated = sum(1 for sid in sids if turns[sid] > 1)
    handled_at = {sid: at for sid, at, _ in rows}
    by_phone: dict[str, list[str]] = {}
    for phone, sid in phase.acknowledged:
        by_phone.setdefault(phone, []).append(sid)
    for phone_sids in by_phone.values():
        times = [handled_at.get(sid) for sid in phone_sids]
        if None not in times and times != sorted(times):
            phase.out_of_order += 1


FAULTS: list[tuple[str, Callable[[Topology], Callable[[], None] | None]]] = [
    ("no fault", lambda t: None),
    ("rasa killed", lambda t: lambda: t.kept["rasa"][0].kill_child()),
    ("action server killed", lambda t: lambda: t.kept["actions"][1].kill_child()),
    ("web app killed", lambda t: lambda: t.kept["web"][0].kill_child()),
]


@pytest.mark.parametrize(("fault", "how"), FAULTS, ids=[name for name, _ in FAULTS])
def test_every_acknowledged_message_is_handled_once_in_order(
    topology: Topology, fault: str, how: Callable[[Topology], Callable[[], None] | None]
) -> None:
    phase = Phase(fault)
    load(topology, phase, how(topology))
    check_handled(topology, phase)
    RESULTS.append(phase)
    FIGURES[f"topology, {fault}"] = phase.line()
    assert phase.sent == len(topology.participants) * len(QUESTIONS)
    # nginx sends a webhook a dying Rasa server dropped to the other one: all acknowledged.
    assert len(phase.acknowledged) == phase.sent, phase.line()
    assert (phase.lost, phase.duplicated, phase.out_of_order) == (0, 0, 0), phase.line()


def test_no_answer_reaches_a_participant_twice(topology: Topology) -> None:
    """Each text the assistant sent (a message-log row) reached Twilio once: as many texts
    reached each participant as rows were sent to them, none twice (a send whose answer was
    lost is looked up at Twilio, not sent again), and no reply of a turn run again after
    its server was killed mid-turn went out twice. A turn saved twice would already show as
    a duplicated turn above."""
    time.sleep(3)
    with session_scope(topology.url) as session:
        rows = session.execute(
            select(Participant.study_id, func.count(MessageLog.id))
            .join(MessageLog, MessageLog.participant_id == Participant.id)
            .where(
                MessageLog.direction == Direction.OUTBOUND,
                MessageLog.external_id.is_not(None),
                Participant.study_id.like("L-%"),
            )
            .group_by(Participant.study_id)
        ).all()
        # A reply of a handling run again (its server stopped mid-turn) is sent once.
        replies_sent_twice = session.execute(
            select(MessageLog.reply_to_id, MessageLog.reply_index)
            .where(
                MessageLog.direction == Direction.OUTBOUND,
                MessageLog.external_id.is_not(None),
                MessageLog.reply_to_id.is_not(None),
            )
            .group_by(MessageLog.reply_to_id, MessageLog.reply_index)
            .having(func.count(MessageLog.id) > 1)
        ).all()
    logged = {study_id: count for study_id, count in rows}
    received = {
        f"L-{n:03d}": len(topology.sms_to(phone)) for n, phone in enumerate(topology.participants)
    }
    duplicated = sum(max(0, received[key] - logged.get(key, 0)) for key in received)
    FIGURES["topology, answers"] = (
        f"texts sent {sum(logged.values())}, received {sum(received.values())}, "
        f"duplicated {duplicated}"
    )
    assert received == logged
    assert replies_sent_twice == []


def test_every_due_prompt_is_sent_once_with_an_outreach_worker_killed(
    topology: Topology,
) -> None:
    zone = ZoneInfo(daytime_zone())
    due = (datetime.now(zone) + timedelta(minutes=1)).replace(second=0, microsecond=0)
    phones = [f"+1555556{2000 + n:04d}" for n in range(PROMPTED)]
    study = load_study_config(Path(topology.settings.study_config))
    with session_scope(topology.url) as session:
        for n, phone in enumerate(phones):
            enroll(
                session=session, study=study, study_id=f"P-{n:03d}", channel=Channel.SMS,
                timezone_name=zone.key, phone=phone, checkin_time=due.time(),
            )  # fmt: skip

    [question] = messages(study, "checkin_prompt")

    def prompts_to(phone: str) -> int:
        return sum(1 for body in topology.sms_to(phone) if body.startswith(question))

    def prompted() -> int:
        return sum(1 for phone in phones if prompts_to(phone))

    assert wait_until(lambda: prompted() >= 1, 150, 0.05), "no prompt was sent"
    topology.kept["outreach"][0].kill_child()
    wait_until(lambda: prompted() == PROMPTED, 120, 1)
    time.sleep(25)  # past the lease of the killed worker's claim: nothing may go out again
    counts = {phone: prompts_to(phone) for phone in phones}
    FIGURES["topology, outreach worker killed"] = (
        f"prompts due {PROMPTED}, sent {sum(1 for c in counts.values() if c)}, "
        f"duplicated {sum(1 for c in counts.values() if c > 1)}"
    )
    assert counts == dict.fromkeys(phones, 1)


def test_an_unacknowledged_emergency_is_re_escalated_on_time_with_an_alert_worker_killed(
    topology: Topology,
) -> None:
    phone = topology.participants[0]
    # Earlier phases may have sent this participant the guard's safe reply (a turn killed
    # mid-way said nothing), which names the emergency number too: count from here on.
    earlier = len(topology.sms_to(phone))
    _, status = topology.text(phone, EMERGENCY_TEXT)
    assert status == 200

    def escalation() -> Escalation | None:
        with session_scope(topology.url) as session:
            return (
                session.execute(
                    select(Escalation)
                    .where(Escalation.level == EscalationLevel.EMERGENCY)
                    .order_by(Escalation.id.desc())
                )
                .scalars()
                .first()
            )

    assert wait_until(lambda: escalation() is not None, 60)
    raised = escalation()
    assert raised is not None
    assert wait_until(lambda: bool(topology.sms_to(NURSE_PHONE)), 30, 0.05)
    topology.kept["alerts"][0].kill_child()
    assert wait_until(lambda: bool(topology.sms_to(BACKUP_PHONE)), 120, 0.2)
    backup_at = datetime.now(ZoneInfo("UTC"))
    waited = (backup_at - raised.created_at).total_seconds()
    time.sleep(5)
    with session_scope(topology.url) as session:
        deliveries = (
            session.execute(select(AlertDelivery).where(AlertDelivery.escalation_id == raised.id))
            .scalars()
            .all()
        )
    sms_rounds = Counter(
        (row.round, row.recipient) for row in deliveries if row.channel.value == "sms"
    )
    nurse, backup = len(topology.sms_to(NURSE_PHONE)), len(topology.sms_to(BACKUP_PHONE))
    FIGURES["topology, alert worker killed"] = (
        f"backup paged {waited:.0f} s after the emergency (target 60 s), "
        f"alerts by SMS: nurse {nurse}, backup {backup}"
    )
    assert 60 <= waited <= 95
    assert all(count == 1 for count in sms_rounds.values()), sms_rounds
    assert len(topology.sms_to(NURSE_PHONE)) == 1
    assert len(topology.sms_to(BACKUP_PHONE)) == 1
    # the participant got the emergency reply once
    assert sum(1 for body in topology.sms_to(phone)[earlier:] if "911" in body) == 1
