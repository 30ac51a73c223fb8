"""The study config: one YAML file with the trial's facts, schedule, contacts, rules and wording.

Every field has a safe default, so a config with keys missing still loads; the assistant
then answers with a generic line plus the coordinator's contact. Answers may use
placeholders such as ``{coordinator_phone}``; `StudyConfig.facts` lists them.

Participant-facing text exists in English and Spanish: each FAQ topic has its Spanish
under ``es:``, the study's own wording under ``wording_es:``, and every fact that is text
(hours, roles, visit names, the payment method...) under ``translations: es:``. Names and
numbers need no translation. `StudyConfig.missing_translations` lists what has no Spanish.
"""

from __future__ import annotations

import logging
import string
import threading
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, Field, ValidationError, validator

from bot.core.languages import ENGLISH, LANGUAGES, SPANISH, language_or_default

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
    # The site's time zone: staff see times in it unless they chose their own.
    site_timezone: str = "UTC"
    duration_weeks: int | None = None

    @validator("site_timezone")
    def _known_zone(cls, value: str) -> str:
        """A time zone name the system knows (e.g. America/Chicago)."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"{value!r} is not a time zone (e.g. America/Chicago)") from error
        return value


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


class FaqText(BaseModel):
    """A plain-language answer, and a simpler one for when it was not understood."""

    answer: Messages = Field(default_factory=list)
    simpler: Messages = Field(default_factory=list)

    _messages = validator("answer", "simpler", pre=True, allow_reuse=True)(_as_messages)

    def texts(self, *, simpler: bool = False) -> Messages:
        """The answer, or the simpler one (the answer when there is no simpler one)."""
        return (self.simpler or self.answer) if simpler else self.answer


class FaqAnswer(FaqText):
    """A FAQ topic's answers in English, and in Spanish under `es`."""

    es: FaqText = Field(default_factory=FaqText)

    def in_language(self, language: str) -> FaqText:
        """The answers in a language (empty when that language has none)."""
        return self.es if language == SPANISH else self


class ContactText(BaseModel):
    """A contact's words in another language (the phone and email need none)."""

    name: str = ""
    role: str = ""
    hours: str = ""


class ContactsText(BaseModel):
    """The contacts' words in another language."""

    coordinator: ContactText = Field(default_factory=ContactText)
    nurse: ContactText = Field(default_factory=ContactText)
    backup: ContactText = Field(default_factory=ContactText)


class StudyText(BaseModel):
    """The study's title and summary in another language (its name stays as it is)."""

    title: str = ""
    summary: str = ""


class VisitText(BaseModel):
    """A visit's name and description in another language."""

    name: str = ""
    what_happens: str = ""


class CompensationText(BaseModel):
    """How participants are paid, in another language (amounts need no translation)."""

    method: str = ""


class Translation(BaseModel):
    """Every fact of the study that is text, in one more language; visits by their key."""

    study: StudyText = Field(default_factory=StudyText)
    contacts: ContactsText = Field(default_factory=ContactsText)
    visits: dict[str, VisitText] = Field(default_factory=dict)
    compensation: CompensationText = Field(default_factory=CompensationText)


CONTACT_ROLES = ("coordinator", "nurse", "backup")
# What a visit is called when the config has no name for it in the participant's language.
GENERIC_VISIT_NAME = {ENGLISH: "study visit", SPANISH: "visita del estudio"}


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
    wording_es: dict[str, Messages] = Field(default_factory=dict)
    translations: dict[str, Translation] = Field(default_factory=dict)

    @validator("wording", "wording_es", pre=True)
    def _wording_messages(cls, value: Any) -> dict[str, Messages]:
        """Each wording entry is one message or a list of them."""
        return {str(key): _as_messages(text) for key, text in (value or {}).items()}

    @validator("translations")
    def _other_languages(cls, value: dict[str, Translation]) -> dict[str, Translation]:
        """Translations are for the languages other than English."""
        others = set(LANGUAGES) - {ENGLISH}
        unknown = sorted(set(value) - others)
        if unknown:
            raise ValueError(f"no such language {unknown}: use one of {sorted(others)}")
        return value

    def translation(self, language: str) -> Translation:
        """The text facts given for a language other than English (empty if none)."""
        return self.translations.get(language) or Translation()

    def facts(self, language: str = ENGLISH) -> dict[str, str]:
        """The placeholders answers may use, with this study's values in a language.

        A fact that is text (hours, payment method, title) without words in that language
        is left out, so it reads as a safe phrase in that language instead of in English;
        names and numbers are the same in every language.
        """
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
        if language != ENGLISH:
            facts.update(self._text_facts(language))
        return {key: value for key, value in facts.items() if value}

    def _text_facts(self, language: str) -> dict[str, str]:
        """The facts that are text, in a language other than English ("" when not given)."""
        text = self.translation(language)
        contacts = text.contacts
        facts = {
            "study_title": text.study.title,
            "coordinator_hours": contacts.coordinator.hours,
            "nurse_hours": contacts.nurse.hours,
            "payment_method": text.compensation.method,
        }
        # A name may have words in the language ("Study nurse line"); else it stays as is.
        for role, key in (("coordinator", "coordinator_name"), ("nurse", "nurse_name")):
            name = getattr(contacts, role).name
            if name:
                facts[key] = name
        return facts

    def visit_name(self, key: str, *, language: str = ENGLISH) -> str:
        """What a participant calls a visit in their language (a generic name if none)."""
        language = language_or_default(language)
        visit = next((visit for visit in self.visits if visit.key == key), None)
        if language == ENGLISH:
            name = visit.name if visit else ""
        else:
            name = self.translation(language).visits.get(key, VisitText()).name
        return name or GENERIC_VISIT_NAME[language]

    def missing_translations(self, language: str = SPANISH) -> list[str]:
        """Where the config has English text but none in `language`, as paths in the file.

        A FAQ answer (and simpler answer), a study wording of `wording:` with no
        `wording_es:` counterpart, and each fact that is text. Participants then get the
        safe default in their language (a general answer and the coordinator's contact).
        """
        missing: list[str] = []
        for topic, entry in self.faq.items():
            own = entry.in_language(language)
            for part in ("answer", "simpler"):
                if getattr(entry, part) and not getattr(own, part):
                    missing.append(f"faq.{topic}.{language}.{part}")
        own_wording = self._wording(language)
        missing += [f"wording_{language}.{key}" for key in self.wording if key not in own_wording]
        missing += [
            f"translations.{language}.{path}"
            for path, english, translated in self._text_fields(language)
            if english.strip() and not translated.strip()
        ]
        return missing

    def unused_translations(self) -> list[str]:
        """Translated visits no visit of the schedule has (a typo, or a visit taken out)."""
        keys = {visit.key for visit in self.visits}
        return [
            f"translations.{language}.visits.{key}"
            for language, translation in self.translations.items()
            for key in translation.visits
            if key not in keys
        ]

    def translated_texts(self, language: str) -> list[tuple[str, str]]:
        """Each fact given as text in `language`, with its path (for the plain-language checks)."""
        return [
            (f"translations.{language}.{path}", translated)
            for path, _, translated in self._text_fields(language)
            if translated.strip()
        ]

    def _text_fields(self, language: str) -> list[tuple[str, str, str]]:
        """(path, English, translated) for every fact that is text."""
        text = self.translation(language)
        fields = [
            ("study.title", self.study.title, text.study.title),
            ("study.summary", self.study.summary, text.study.summary),
            ("compensation.method", self.compensation.method, text.compensation.method),
        ]
        for role in CONTACT_ROLES:
            english, translated = getattr(self.contacts, role), getattr(text.contacts, role)
            fields.append((f"contacts.{role}.role", english.role, translated.role))
            fields.append((f"contacts.{role}.hours", english.hours, translated.hours))
        for visit in self.visits:
            own = text.visits.get(visit.key, VisitText())
            fields.append((f"visits.{visit.key}.name", visit.name, own.name))
            fields.append(
                (f"visits.{visit.key}.what_happens", visit.what_happens, own.what_happens)
            )
        return fields

    def contact_line(self) -> str:
        """How to reach a person, for the end of a generic or fallback answer."""
        coordinator = self.contacts.coordinator
        if coordinator.name and coordinator.phone:
            return f"You can call {coordinator.name} at {coordinator.phone}."
        if coordinator.phone:
            return f"You can call your study team at {coordinator.phone}."
        return "Please ask your study team."

    def render(self, template: str, language: str = ENGLISH, **extra: str) -> str:
        """Fill a text's placeholders from the facts in a language (and `extra`).

        A missing fact reads as a safe phrase in that language, never as a wrong number.
        """
        language = language_or_default(language)
        facts = _Facts({**self.facts(language), **extra}, language=language)
        return _SafeFormatter().vformat(template, (), facts)

    def faq_answer(
        self, topic: str, *, simpler: bool = False, language: str = ENGLISH
    ) -> Messages | None:
        """The rendered answer to a FAQ topic in a language, or None when the config has none."""
        entry = self.faq.get(topic)
        if entry is None:
            return None
        language = language_or_default(language)
        messages = entry.in_language(language).texts(simpler=simpler)
        return [self.render(message, language) for message in messages] or None

    def wording_text(self, key: str, language: str = ENGLISH, **extra: str) -> Messages | None:
        """The study's own rendered wording for a key in a language, if it has one."""
        language = language_or_default(language)
        messages = self._wording(language).get(key) or []
        return [self.render(message, language, **extra) for message in messages] or None

    def _wording(self, language: str) -> dict[str, Messages]:
        """The study's own wording in a language."""
        return self.wording_es if language == SPANISH else self.wording


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _money(currency: str, amount: float | None) -> str:
    if amount is None:
        return ""
    return f"{currency}{amount:,.0f}" if float(amount).is_integer() else f"{currency}{amount:,.2f}"


# What a missing fact reads as, by language: never a wrong number, never another language.
_SAFE_PHRASES = {
    ENGLISH: {
        "phone": "the phone number on your study papers",
        "hours": "in office hours",
        "other": "your study team",
    },
    SPANISH: {
        "phone": "el número en sus papeles del estudio",
        "hours": "en horario de oficina",
        "other": "su equipo del estudio",
    },
}


class _Facts(dict):
    """The study's facts; a missing one reads as a safe phrase, never as a wrong number."""

    def __init__(self, facts: dict[str, str], *, language: str) -> None:
        super().__init__(facts)
        self._phrases = _SAFE_PHRASES[language]

    def __missing__(self, key: str) -> str:
        if key.endswith("_phone"):
            for other in ("nurse_phone", "coordinator_phone"):
                if other in self:
                    return str(self[other])
            return self._phrases["phone"]
        if key.endswith("_hours"):
            return self._phrases["hours"]
        return self._phrases["other"]


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
