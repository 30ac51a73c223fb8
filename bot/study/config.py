"""The study config: one YAML file with the trial's facts, schedule, contacts, rules and wording.

Every field has a safe default, so a config with keys missing still loads; the assistant
then answers with a generic line plus the coordinator's contact. Answers may use
placeholders such as ``{coordinator_phone}``; `StudyConfig.facts` lists them.
"""

from __future__ import annotations

import logging
import string
import threading
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, validator

logger = logging.getLogger(__name__)

FAQ_TOPICS = (
    "what_is_trial",
    "study_purpose",
    "procedures",
    "visit_schedule",
    "time_commitment",
    "risks",
    "benefits",
    "placebo",
    "randomization",
    "rights_withdraw",
    "privacy",
    "compensation",
    "costs",
    "travel",
    "contact",
    "results",
    "other_medications",
    "pregnancy",
    "after_study",
    "missed_visit",
    "consent",
)

Messages = list[str]


def _as_messages(value: Any) -> Messages:
    """Accept one message or a list of messages; drop blanks."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


def _parse_clock(value: Any) -> time:
    """Read "18:00" (or a YAML sexagesimal int such as 1080) as a time of day."""
    if isinstance(value, time):
        return value
    if isinstance(value, int):  # YAML 1.1 reads an unquoted 18:00 as 1080 (minutes)
        return time(value // 60 % 24, value % 60)
    hours, minutes = str(value).strip().split(":")
    return time(int(hours), int(minutes))


class Contact(BaseModel):
    """A person or desk participants can reach."""

    name: str = ""
    role: str = ""
    phone: str = ""
    email: str = ""
    hours: str = ""


class Contacts(BaseModel):
    """The study coordinator, the on-call nurse and their backup."""

    coordinator: Contact = Field(default_factory=Contact)
    nurse: Contact = Field(default_factory=Contact)
    backup: Contact = Field(default_factory=Contact)


class StudyInfo(BaseModel):
    """Who runs the trial, where, and for how long."""

    name: str = "your study"
    title: str = ""
    summary: str = ""
    sponsor: str = ""
    site_name: str = ""
    site_address: str = ""
    duration_weeks: int | None = None


class Visit(BaseModel):
    """One visit of the schedule, counted from the enrollment date."""

    key: str
    name: str
    day: int = Field(..., description="Days after enrollment (day 0 is the first visit).")
    window_days: int = 0
    duration_minutes: int | None = None
    at_home: bool = False
    what_happens: str = ""


class CheckinSchedule(BaseModel):
    """When the assistant asks participants how they are."""

    frequency: Literal["daily", "weekly"] = "daily"
    weekday: str | None = None
    default_time: time = time(18, 0)
    nudge_after_minutes: int = 180
    missed_in_a_row_for_risk: int = 3

    _clock = validator("default_time", pre=True, allow_reuse=True)(_parse_clock)


class VisitReminders(BaseModel):
    """When participants are reminded of a visit."""

    hours_before: list[int] = Field(default_factory=lambda: [48, 2])
    # Visits are planned at this local time unless staff set another.
    default_time: time = time(9, 0)

    _clock = validator("default_time", pre=True, allow_reuse=True)(_parse_clock)


class DoseReminders(BaseModel):
    """Daily reminders to take the study medicine, at these local times."""

    enabled: bool = False
    times: list[time] = Field(default_factory=list)

    @validator("times", pre=True)
    def _clocks(cls, value: Any) -> list[time]:
        """Each time as "HH:MM"."""
        return [_parse_clock(item) for item in value or []]


class Outreach(BaseModel):
    """What happens to proactive messages that could not go out on time."""

    # A message due while the assistant was down is sent late within this many minutes,
    # else skipped (and logged).
    late_grace_minutes: int = 60


class QuietHours(BaseModel):
    """Local hours when nothing but an answer to the participant is sent."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    _clock = validator("start", "end", pre=True, allow_reuse=True)(_parse_clock)


class ResponseTargets(BaseModel):
    """Minutes staff have to acknowledge an alert, by level."""

    emergency: int = 5
    urgent: int = 15
    routine: int = 1440


AlertChannelName = Literal["telegram", "sms", "console"]


def _console_only() -> list[AlertChannelName]:
    return ["console"]


class AlertChannels(BaseModel):
    """Where each level's alerts go (the console queue always shows every escalation)."""

    emergency: list[AlertChannelName] = Field(default_factory=_console_only)
    urgent: list[AlertChannelName] = Field(default_factory=_console_only)
    routine: list[AlertChannelName] = Field(default_factory=_console_only)


class StaffAlerts(BaseModel):
    """Who gets staff alerts, in which order, and how (bot.alerts).

    People are named by their staff-console username: their phone number and Telegram chat
    are kept encrypted with their account, never in this file. An emergency or urgent alert
    not acknowledged within its response time goes to `backup` (round 1), and after the
    same time again to `everyone` (round 2; all active care-team users when empty).
    """

    channels: AlertChannels = Field(default_factory=AlertChannels)
    # The study team's Telegram group (its chat ID; the bot must be a member), if any.
    telegram_group_chat: str = ""
    on_call: list[str] = Field(default_factory=list)
    backup: list[str] = Field(default_factory=list)
    everyone: list[str] = Field(default_factory=list)

    @validator("on_call", "backup", "everyone", pre=True)
    def _usernames(cls, value: Any) -> list[str]:
        """Usernames as the console stores them (lower case, trimmed)."""
        items = [value] if isinstance(value, str) else list(value or [])
        return [str(item).strip().lower() for item in items if str(item).strip()]

    @validator("telegram_group_chat", pre=True)
    def _chat_id(cls, value: Any) -> str:
        """A chat ID as text (YAML may read an unquoted one as a number)."""
        return "" if value is None else str(value).strip()


class EscalationRules(BaseModel):
    """When a symptom report becomes an alert (PRO-CTCAE grades 0-4), and who is alerted."""

    urgent_at_grade: int = 3
    routine_at_grade: int = 2
    urgent_if_worse_by: int = 2
    response_minutes: ResponseTargets = Field(default_factory=ResponseTargets)
    alerts: StaffAlerts = Field(default_factory=StaffAlerts)


class Bonus(BaseModel):
    """A one-off payment at a milestone: a visit done, or a week in the study reached."""

    amount: float
    # Earned when this visit (a key of `visits`) is done ...
    visit: str | None = None
    # ... or, without a visit, this many weeks after enrollment while still in the study.
    week: int | None = None
    reason: str = ""

    @validator("week", always=True)
    def _one_milestone(cls, week: int | None, values: dict[str, Any]) -> int | None:
        """A bonus names a visit or a week."""
        if week is None and not values.get("visit"):
            raise ValueError("a bonus needs `visit` (a visit key) or `week`")
        return week


class Compensation(BaseModel):
    """What participants are paid, and how."""

    currency: str = "$"
    per_visit: float | None = None
    travel: float | None = None
    bonuses: list[Bonus] = Field(default_factory=list)
    method: str = ""


class FaqAnswer(BaseModel):
    """A plain-language answer, and a simpler one for when it was not understood."""

    answer: Messages = Field(default_factory=list)
    simpler: Messages = Field(default_factory=list)

    _messages = validator("answer", "simpler", pre=True, allow_reuse=True)(_as_messages)


class StudyConfig(BaseModel):
    """Everything the assistant knows about one trial."""

    study: StudyInfo = Field(default_factory=StudyInfo)
    contacts: Contacts = Field(default_factory=Contacts)
    emergency_number: str = "911"
    crisis_line: str = "988"
    visits: list[Visit] = Field(default_factory=list)
    checkins: CheckinSchedule = Field(default_factory=CheckinSchedule)
    symptoms_of_interest: list[str] = Field(default_factory=list)
    escalation: EscalationRules = Field(default_factory=EscalationRules)
    compensation: Compensation = Field(default_factory=Compensation)
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    visit_reminders: VisitReminders = Field(default_factory=VisitReminders)
    dose_reminders: DoseReminders = Field(default_factory=DoseReminders)
    outreach: Outreach = Field(default_factory=Outreach)
    faq: dict[str, FaqAnswer] = Field(default_factory=dict)
    wording: dict[str, Messages] = Field(default_factory=dict)

    @validator("wording", pre=True)
    def _wording_messages(cls, value: Any) -> dict[str, Messages]:
        """Each wording entry is one message or a list of them."""
        return {str(key): _as_messages(text) for key, text in (value or {}).items()}

    def facts(self) -> dict[str, str]:
        """The placeholders answers may use, with this study's values."""
        coordinator, nurse = self.contacts.coordinator, self.contacts.nurse
        money = self.compensation
        facts = {
            "study_name": self.study.name,
            "study_title": self.study.title,
            "sponsor": self.study.sponsor,
            "site_name": self.study.site_name,
            "site_address": self.study.site_address,
            "duration_weeks": _text(self.study.duration_weeks),
            "visit_count": str(len(self.visits)) if self.visits else "",
            "coordinator_name": coordinator.name,
            "coordinator_phone": coordinator.phone,
            "coordinator_hours": coordinator.hours,
            "nurse_name": nurse.name,
            "nurse_phone": nurse.phone,
            "nurse_hours": nurse.hours,
            "emergency_number": self.emergency_number,
            "crisis_line": self.crisis_line,
            "per_visit_amount": _money(money.currency, money.per_visit),
            "travel_amount": _money(money.currency, money.travel),
            "payment_method": money.method,
        }
        return {key: value for key, value in facts.items() if value}

    def contact_line(self) -> str:
        """How to reach a person, for the end of a generic or fallback answer."""
        coordinator = self.contacts.coordinator
        if coordinator.name and coordinator.phone:
            return f"You can call {coordinator.name} at {coordinator.phone}."
        if coordinator.phone:
            return f"You can call your study team at {coordinator.phone}."
        return "Please ask your study team."

    def render(self, template: str, **extra: str) -> str:
        """Fill a text's placeholders from the facts (and `extra`); a missing one reads safely."""
        return _SafeFormatter().vformat(template, (), _Facts({**self.facts(), **extra}))

    def faq_answer(self, topic: str, *, simpler: bool = False) -> Messages | None:
        """The rendered answer to a FAQ topic, or None when the config has none."""
        entry = self.faq.get(topic)
        if entry is None:
            return None
        messages = (entry.simpler or entry.answer) if simpler else entry.answer
        return [self.render(message) for message in messages] or None

    def wording_text(self, key: str, **extra: str) -> Messages | None:
        """The study's own rendered wording for a key, if it has one."""
        messages = self.wording.get(key)
        return [self.render(message, **extra) for message in messages] if messages else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _money(currency: str, amount: float | None) -> str:
    if amount is None:
        return ""
    return f"{currency}{amount:,.0f}" if float(amount).is_integer() else f"{currency}{amount:,.2f}"


class _Facts(dict):
    """The study's facts; a missing one reads as a safe phrase, never as a wrong number."""

    def __missing__(self, key: str) -> str:
        if key.endswith("_phone"):
            for other in ("nurse_phone", "coordinator_phone"):
                if other in self:
                    return str(self[other])
            return "the phone number on your study papers"
        if key.endswith("_hours"):
            return "in office hours"
        return "your study team"


class _SafeFormatter(string.Formatter):
    """str.format that never raises on unknown fields or stray braces' attribute access."""

    def get_field(self, field_name: str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        return kwargs[field_name], field_name


class StudyConfigError(RuntimeError):
    """The study config file cannot be read or does not fit the schema."""


def parse_study_config(raw: Any, *, source: str = "study config") -> StudyConfig:
    """Validate already-loaded YAML; raise StudyConfigError naming the bad field."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise StudyConfigError(f"{source}: the top level must be a mapping of keys")
    try:
        return StudyConfig.parse_obj(raw)
    except ValidationError as error:
        raise StudyConfigError(f"{source}: {error}") from error


def load_study_config(path: Path) -> StudyConfig:
    """Read and validate a study config file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise StudyConfigError(f"{path}: {error}") from error
    return parse_study_config(raw, source=str(path))


class StudyConfigStore:
    """Serves the study config, re-reading the file when it changes (no restart needed).

    A file that becomes invalid while running is logged and the last good version is
    kept, so a typo in an edit never takes the assistant down.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._config: StudyConfig | None = None

    @property
    def path(self) -> Path:
        """The file this store reads."""
        return self._path

    def get(self) -> StudyConfig:
        """The current config (loaded on first use, reloaded when the file changed)."""
        try:
            mtime = self._path.stat().st_mtime
        except OSError:
            mtime = None
        with self._lock:
            if self._config is not None and mtime == self._mtime:
                return self._config
            try:
                config = load_study_config(self._path)
            except StudyConfigError:
                if self._config is None:
                    raise
                logger.exception("study config became invalid; keeping the last good one")
                return self._config
            self._config, self._mtime = config, mtime
            return config


_store: StudyConfigStore | None = None
_store_lock = threading.Lock()


def current_study() -> StudyConfig:
    """The study config named by the STUDY_CONFIG setting, as it is on disk now."""
    global _store
    from bot.core.settings import get_settings

    with _store_lock:
        path = get_settings().study_config
        if _store is None or _store.path != path:
            _store = StudyConfigStore(path)
        store = _store
    return store.get()
