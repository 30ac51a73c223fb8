"""Fixtures for outreach tests: a clock the test moves, studies, participants, stand-in APIs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.core.settings import get_settings
from bot.db.models import (
    Appointment,
    Channel,
    OutreachStatus,
    Participant,
    ParticipantStatus,
    ScheduledMessage,
)
from bot.db.session import session_scope
from bot.participants.enrollment import enroll, link_telegram_chat
from bot.study.config import StudyConfig, parse_study_config
from tests.conftest import EXAMPLE_STUDY
from tests.stand_ins.rasa_api import RasaApiStandIn
from tests.stand_ins.telegram_api import TelegramApiStandIn
from tests.stand_ins.twilio_api import TwilioApiStandIn

CHICAGO = ZoneInfo("America/Chicago")
BERLIN = ZoneInfo("Europe/Berlin")
SMS_FROM = "+15555550199"


class FakeClock:
    """A clock that stands still until the test moves it (UTC)."""

    def __init__(self, start: datetime) -> None:
        self.now = start.astimezone(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> datetime:
        """Jump to a moment (any zone)."""
        self.now = moment.astimezone(timezone.utc)
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move on by a timedelta's worth (minutes=5, days=1, ...)."""
        self.now += timedelta(**delta)
        return self.now


def local(year: int, month: int, day: int, hour: int, minute: int = 0, zone: ZoneInfo = CHICAGO):
    """A wall-clock time in a zone, as an aware datetime (fold=0)."""
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def make_study(**changes: Any) -> StudyConfig:
    """The example study with some sections changed (nested dicts are merged)."""
    raw = yaml.safe_load(EXAMPLE_STUDY.read_text(encoding="utf-8"))
    return parse_study_config(_merge(raw, changes))


@dataclass
class Enrolled:
    """A participant made for a test: their ID and conversation ID."""

    id: int
    sender_id: str
    address: str


def add_participant(
    *,
    study: StudyConfig,
    study_id: str,
    channel: Channel = Channel.TELEGRAM,
    tz: str = "America/Chicago",
    checkin_time: time | None = None,
    enrolled_at: datetime,
    address: str | None = None,
) -> Enrolled:
    """Enroll a participant (SMS, or Telegram with a linked chat) as of `enrolled_at`."""
    with session_scope() as session:
        zone = ZoneInfo(tz)
        phone = address if channel is Channel.SMS else None
        result = enroll(
            session=session,
            study=study,
            study_id=study_id,
            channel=channel,
            timezone_name=tz,
            phone=phone,
            checkin_time=checkin_time,
            enrolled_on=enrolled_at.astimezone(zone).date(),
        )
        participant = result.participant
        if channel is Channel.TELEGRAM and result.enrollment_code and address:
            link_telegram_chat(session=session, code=result.enrollment_code, chat_id=address)
        participant.enrolled_at = enrolled_at
        return Enrolled(participant.id, participant.sender_id, address or "")


def update_participant(participant_id: int, **values: Any) -> None:
    """Change a participant's columns (opted_out_at, status, ...)."""
    with session_scope() as session:
        participant = session.get(Participant, participant_id)
        assert participant is not None
        for name, value in values.items():
            setattr(participant, name, value)


def add_appointment(participant_id: int, visit_key: str, at: datetime) -> int:
    """A planned visit at a moment."""
    with session_scope() as session:
        appointment = Appointment(
            participant_id=participant_id, visit_key=visit_key, scheduled_at=at
        )
        session.add(appointment)
        session.flush()
        return appointment.id


def scheduled(**where: Any) -> list[ScheduledMessage]:
    """Scheduled messages matching column values, by due time."""
    with session_scope() as session:
        query = select(ScheduledMessage).order_by(ScheduledMessage.due_at, ScheduledMessage.id)
        for name, value in where.items():
            query = query.where(getattr(ScheduledMessage, name) == value)
        return list(session.execute(query).scalars())


def statuses(kind: str) -> dict[str, OutreachStatus]:
    """dedupe_key -> status of every message of a kind."""
    return {row.dedupe_key: row.status for row in scheduled(kind=kind)}


def withdraw(participant_id: int) -> None:
    """Mark a participant withdrawn."""
    update_participant(participant_id, status=ParticipantStatus.WITHDRAWN)


@pytest.fixture(autouse=True)
def _encryption_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Addresses are encrypted; PostgreSQL needs an explicit key."""
    monkeypatch.setenv("ENCRYPTION_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _no_waiting_between_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Delivery retries at once in tests."""
    monkeypatch.setattr("bot.messaging.delivery.IMMEDIATE_BACKOFF", (0.001, 0.001))


ClockFactory = Callable[[datetime], FakeClock]


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at 2026-03-02 12:00 in Chicago (a Monday), for the test to move."""
    return FakeClock(local(2026, 3, 2, 12))


@pytest.fixture
def rasa() -> Iterator[RasaApiStandIn]:
    """A stand-in Rasa HTTP API."""
    with RasaApiStandIn(token="rasa-test-token") as api:
        yield api


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[TelegramApiStandIn]:
    """A stand-in Telegram Bot API, with the settings that enable Telegram pointed at it."""
    with TelegramApiStandIn(token="123456:TEST-TOKEN") as api:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", api.token)
        monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "outreach-test-secret")
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", api.base_url)
        get_settings.cache_clear()
        yield api


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[TwilioApiStandIn]:
    """A stand-in Twilio Messages API, with the settings that enable SMS pointed at it."""
    with TwilioApiStandIn() as api:
        monkeypatch.setenv("TWILIO_ACCOUNT_SID", api.account_sid)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", api.auth_token)
        monkeypatch.setenv("TWILIO_FROM_NUMBER", SMS_FROM)
        monkeypatch.setenv("TWILIO_API_BASE_URL", api.base_url)
        get_settings.cache_clear()
        yield api


def day_at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = CHICAGO) -> datetime:
    """A local wall-clock time on a date."""
    return datetime.combine(day, time(hour, minute), tzinfo=zone)
