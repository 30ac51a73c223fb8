"""Shared set-up for alert and handoff tests: stand-ins, settings, a study, staff, a clock.

Imported by tests/alerts/conftest.py, tests/handoff/conftest.py and the channels' staff
tests. Everything outside runs locally: the stand-in Telegram and Twilio APIs and a
stand-in for Rasa's tracker endpoints.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from sqlalchemy import select

import bot.messaging.delivery
from bot.core.settings import get_settings
from bot.db.models import (
    AlertDelivery,
    Channel,
    Direction,
    Escalation,
    EscalationLevel,
    EscalationType,
    MessageLog,
    Participant,
    StaffRole,
    StaffUser,
)
from bot.db.repository import log_message
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.escalation.records import raise_escalation
from bot.participants.enrollment import enroll, link_telegram_chat
from bot.staff.audit import SYSTEM_ACTOR
from bot.staff.auth import create_user
from bot.study.config import current_study
from tests.conftest import EXAMPLE_STUDY
from tests.handoff.rasa_conversations import RasaConversationsStandIn
from tests.staff.factories import as_verified
from tests.stand_ins.telegram_api import TelegramApiStandIn
from tests.stand_ins.twilio_api import TwilioApiStandIn

PUBLIC_URL = "https://trial.example.org"
WEBHOOK_SECRET = "test-webhook-secret_123"
TWILIO_FROM = "+15555550100"
TWILIO_PUBLIC_BASE = "https://sms.example.org/rasa"
GROUP_CHAT = "-1005550001"
PARTICIPANT_PHONE = "+15555550123"
PARTICIPANT_CHAT = 5550001
PARTICIPANT_WORDS = "my chest hurts and my neighbour Ann Smith on 555-0199 says go in"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Person:
    """A staff member of the test study, and where their alerts go."""

    username: str
    name: str
    phone: str
    chat_id: int
    role: StaffRole = StaffRole.STAFF


STAFF = {
    "joy": Person("joy", "Nurse Joy", "+15555550201", 7100001),
    "bob": Person("bob", "Dr Bob", "+15555550202", 7100002),
    "cara": Person("cara", "Cara Coordinator", "+15555550203", 7100003),
    "rita": Person("rita", "Rita Researcher", "+15555550204", 7100004, StaffRole.RESEARCHER),
}


@dataclass
class FakeClock:
    """A clock the test moves forward."""

    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by a timedelta's keywords (minutes=15, seconds=31, ...)."""
        self.now += timedelta(**delta)
        return self.now


def alerts_section(**changes: object) -> dict[str, object]:
    """The study's `escalation.alerts` for tests (changes override)."""
    section: dict[str, object] = {
        "channels": {
            "emergency": ["telegram", "sms", "console"],
            "urgent": ["telegram", "sms", "console"],
            "routine": ["console"],
        },
        "telegram_group_chat": GROUP_CHAT,
        "on_call": ["joy"],
        "backup": ["bob"],
        "everyone": ["joy", "bob", "cara"],
    }
    section.update(changes)
    return section


def write_study(path: Path, alerts: dict[str, object] | None) -> Path:
    """The example study with these alert settings (None: the schema's defaults)."""
    raw = yaml.safe_load(EXAMPLE_STUDY.read_text(encoding="utf-8"))
    if alerts is None:
        raw["escalation"].pop("alerts", None)
    else:
        raw["escalation"]["alerts"] = alerts
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def telegram_api() -> Iterator[TelegramApiStandIn]:
    """Telegram's Bot API, on a local port."""
    with TelegramApiStandIn() as api:
        yield api


@pytest.fixture
def twilio_api() -> Iterator[TwilioApiStandIn]:
    """Twilio's Messages API, on a local port."""
    with TwilioApiStandIn() as api:
        yield api


@pytest.fixture
def rasa_api() -> Iterator[RasaConversationsStandIn]:
    """Rasa's tracker endpoints, on a local port."""
    with RasaConversationsStandIn() as api:
        yield api


@pytest.fixture
def alert_env(
    database_url: str,
    telegram_api: TelegramApiStandIn,
    twilio_api: TwilioApiStandIn,
    rasa_api: RasaConversationsStandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """Telegram, SMS and Rasa's API pointed at the stand-ins; the test study; quick retries."""
    monkeypatch.setenv("ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC_URL)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", telegram_api.token)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", telegram_api.base_url)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", twilio_api.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", twilio_api.auth_token)
    monkeypatch.setenv("TWILIO_FROM_NUMBER", TWILIO_FROM)
    monkeypatch.setenv("TWILIO_MESSAGING_SERVICE_SID", "")
    monkeypatch.setenv("TWILIO_WEBHOOK_BASE_URL", TWILIO_PUBLIC_BASE)
    monkeypatch.setenv("TWILIO_API_BASE_URL", twilio_api.base_url)
    monkeypatch.setenv("RASA_URL", rasa_api.base_url)
    monkeypatch.setenv("RASA_API_TOKEN", rasa_api.token)
    study = write_study(tmp_path / "study.yml", alerts_section())
    monkeypatch.setenv("STUDY_CONFIG", str(study))
    monkeypatch.setattr(bot.messaging.delivery, "IMMEDIATE_BACKOFF", (0.01, 0.01))
    get_settings.cache_clear()
    return database_url


@pytest.fixture
def staff(alert_env: str) -> dict[str, StaffUser]:
    """The study team, each with a phone number and a Telegram chat they have verified."""
    users = {}
    with session_scope() as session:
        for person in STAFF.values():
            users[person.username] = as_verified(
                create_user(
                    session=session,
                    actor=SYSTEM_ACTOR,
                    username=person.username,
                    display_name=person.name,
                    role=person.role,
                    password=PASSWORD,
                    phone=person.phone,
                    telegram_chat_id=str(person.chat_id),
                )
            )
    return users


@pytest.fixture
def clock() -> FakeClock:
    """A clock that starts now and moves only when told."""
    return FakeClock()


def enroll_sms(study_id: str = "P-001", phone: str = PARTICIPANT_PHONE) -> Participant:
    """An SMS participant with a phone number."""
    with session_scope() as session:
        return enroll(
            session=session,
            study=current_study(),
            study_id=study_id,
            channel=Channel.SMS,
            timezone_name="America/Chicago",
            phone=phone,
        ).participant


def enroll_telegram(study_id: str = "P-002", chat_id: int = PARTICIPANT_CHAT) -> Participant:
    """A Telegram participant whose chat is linked."""
    with session_scope() as session:
        result = enroll(
            session=session,
            study=current_study(),
            study_id=study_id,
            channel=Channel.TELEGRAM,
            timezone_name="America/Chicago",
        )
        assert result.enrollment_code is not None
        participant = link_telegram_chat(
            session=session, code=result.enrollment_code, chat_id=str(chat_id)
        )
        assert participant is not None
        return participant


def raise_for(
    participant: Participant,
    level: EscalationLevel = EscalationLevel.URGENT,
    *,
    type: EscalationType = EscalationType.SYMPTOM,
    reason: str = "severe nausea (grade 3)",
    words: str = PARTICIPANT_WORDS,
) -> Escalation:
    """An escalation raised as the actions raise them, after a message with these words."""
    with session_scope() as session:
        entry = log_message(
            session=session,
            sender_id=participant.sender_id,
            channel=participant.channel,
            direction=Direction.INBOUND,
            text=words,
            participant_id=participant.id,
        )
        return raise_escalation(
            session=session,
            participant_id=participant.id,
            level=level,
            type=type,
            reason=reason,
            message_log_id=entry.id,
        )


def deliveries(escalation_id: int | None = None) -> list[AlertDelivery]:
    """Alert deliveries, oldest first (of one escalation, if given)."""
    with session_scope() as session:
        query = select(AlertDelivery).order_by(AlertDelivery.id)
        if escalation_id is not None:
            query = query.where(AlertDelivery.escalation_id == escalation_id)
        return list(session.execute(query).scalars())


def escalation(escalation_id: int) -> Escalation:
    """An escalation as stored now."""
    with session_scope() as session:
        found = session.get(Escalation, escalation_id)
        assert found is not None
        return found


def messages_to(sender_id: str) -> list[MessageLog]:
    """The outbound messages of a conversation, oldest first."""
    with session_scope() as session:
        return list(
            session.execute(
                select(MessageLog)
                .where(
                    MessageLog.sender_id == sender_id,
                    MessageLog.direction == Direction.OUTBOUND,
                )
                .order_by(MessageLog.id)
            ).scalars()
        )


def telegram_texts(api: TelegramApiStandIn, chat_id: int | str) -> list[str]:
    """The texts sent to one Telegram chat."""
    return [
        call.params["text"]
        for call in api.calls("sendMessage")
        if str(call.params["chat_id"]) == str(chat_id)
    ]


def sms_texts(api: TwilioApiStandIn, phone: str) -> list[str]:
    """The SMS bodies sent to one number."""
    return [message["Body"] for message in api.messages if message["To"] == phone]
