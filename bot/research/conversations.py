"""Conversation log review: the list of conversations with filters, and one transcript.

Reads Rasa's tracker store (table `events`, which Rasa keeps in the project's database)
together with the project's own tables: participants, escalations and the message log.
A conversation is one Rasa sender ID. Messages Rasa makes itself for `trigger_intent`
(text "EXTERNAL: <intent>") are shown as system triggers, never counted as the
participant's. The confidence of a message is the intent's, or for an FAQ question the
lower of the intent's and the topic's (the response selector's).
"""

from __future__ import annotations

import enum
import json
import logging
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    and_,
    case,
    cast,
    false,
    func,
    inspect,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.selectable import ScalarSelect, Subquery

from bot.db.models import (
    Channel,
    Escalation,
    EscalationType,
    MessageLog,
    Participant,
    ParticipantStatus,
    tracker_events,
)

logger = logging.getLogger(__name__)

# A participant message below this confidence (or an `nlu_fallback`) is "low confidence":
# flagged in transcripts and put in the NLU review queue.
LOW_CONFIDENCE = 0.6
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = ("action_fallback_help", "action_default_fallback", "action_two_stage_fallback")
HANDOFF_ACTIONS = ("action_request_human",)
RETRIEVAL_INTENT = "faq"
# What Rasa writes as the text of a message made by `trigger_intent`.
EXTERNAL_PREFIX = "EXTERNAL: "
# Tracker events a reader of the transcript does not need.
HIDDEN_ACTIONS = frozenset({"action_listen", "action_session_start"})
HIDDEN_EVENTS = frozenset({"user_featurization"})
# How far apart in time a message-log entry and its tracker event may be to be the same.
MATCH_WINDOW = timedelta(minutes=5)
DEFAULT_PAGE_SIZE = 50
MAX_SLOT_VALUE_LENGTH = 200

# --- reading the tracker store in SQL -------------------------------------------------


def tracker_store_ready(*, session: Session) -> bool:
    """True once Rasa has created its `events` table in this database."""
    return bool(inspect(session.connection()).has_table(tracker_events.name))


def _event_json(session: Session) -> ColumnElement[Any]:
    """The `data` column as JSON (PostgreSQL needs a cast; SQLite reads JSON text as is)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(tracker_events.c.data, JSON)
    return type_coerce(tracker_events.c.data, JSON)


def event_text(session: Session) -> ColumnElement[str]:
    """The text of a user or bot event."""
    return _event_json(session)[("text",)].as_string()


def predicted_intent(session: Session) -> ColumnElement[str]:
    """The intent the model predicted, with the FAQ topic ("faq/placebo") when there is one."""
    full = _event_json(session)[("parse_data", "intent", "full_retrieval_intent_name")]
    return func.coalesce(full.as_string(), tracker_events.c.intent_name)


def effective_confidence(session: Session) -> ColumnElement[float]:
    """The intent's confidence, or the topic's when a retrieval intent's topic is less sure."""
    data = _event_json(session)
    intent = data[("parse_data", "intent", "confidence")].as_float()
    topic = data[
        ("parse_data", "response_selector", RETRIEVAL_INTENT, "response", "confidence")
    ].as_float()
    topic_is_lower = and_(
        tracker_events.c.intent_name == RETRIEVAL_INTENT, topic.is_not(None), topic < intent
    )
    return case((topic_is_lower, topic), else_=intent)


def participant_message(session: Session) -> ColumnElement[bool]:
    """A user event with text that the participant sent (not a `trigger_intent`)."""
    text = event_text(session)
    return and_(
        tracker_events.c.type_name == "user",
        text.is_not(None),
        text != "",
        ~text.startswith(EXTERNAL_PREFIX),
    )


def low_confidence(session: Session, threshold: float) -> ColumnElement[bool]:
    """A fallback, or a confidence below the threshold (for user events)."""
    return or_(
        tracker_events.c.intent_name == FALLBACK_INTENT,
        effective_confidence(session) < threshold,
    )


def intent_matches(session: Session, intent: str) -> ColumnElement[bool]:
    """The user event's intent is this one ("faq/placebo" matches the FAQ topic)."""
    if "/" in intent:
        full = _event_json(session)[("parse_data", "intent", "full_retrieval_intent_name")]
        return full.as_string() == intent
    return tracker_events.c.intent_name == intent


# --- time ranges ------------------------------------------------------------------------


def _utc_midnight(day: date) -> datetime:
    """The start of a day in UTC."""
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def from_epoch(timestamp: float | None) -> datetime:
    """A tracker timestamp (epoch seconds) as an aware UTC datetime."""
    return datetime.fromtimestamp(timestamp or 0.0, tz=timezone.utc)


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days, both ends included; either end may be open."""

    start: date | None = None
    end: date | None = None

    @property
    def since(self) -> datetime | None:
        """The first moment in the range."""
        return _utc_midnight(self.start) if self.start else None

    @property
    def until(self) -> datetime | None:
        """The first moment after the range."""
        return _utc_midnight(self.end) + timedelta(days=1) if self.end else None

    def events_within(self) -> ColumnElement[bool]:
        """Tracker events in the range."""
        conditions = []
        if self.since is not None:
            conditions.append(tracker_events.c.timestamp >= self.since.timestamp())
        if self.until is not None:
            conditions.append(tracker_events.c.timestamp < self.until.timestamp())
        return and_(true(), *conditions)

    def rows_within(self, column: Any) -> ColumnElement[bool]:
        """Rows of a project table whose UTC timestamp column is in the range."""
        conditions = []
        if self.since is not None:
            conditions.append(column >= self.since)
        if self.until is not None:
            conditions.append(column < self.until)
        return and_(true(), *conditions)


# --- the list of conversations ----------------------------------------------------------


@dataclass(frozen=True)
class ConversationFilters:
    """What the researcher asked for; empty fields do not filter."""

    study_id: str | None = None
    dates: DateRange = DateRange()
    channel: Channel | None = None
    # The participant's language ("en", "es").
    language: str | None = None
    intent: str | None = None
    low_confidence: bool = False
    fallback: bool = False
    escalated: bool = False
    handoff: bool = False


@dataclass(frozen=True)
class ConversationSummary:
    """One conversation in the list, with its figures over the date range."""

    sender_id: str
    participant_id: int | None
    study_id: str | None
    channel: Channel | None
    # The participant's language ("en", "es"); None without a participant.
    language: str | None
    first_activity: datetime
    last_activity: datetime
    participant_messages: int
    bot_messages: int
    min_confidence: float | None
    nlu_fallbacks: int
    fallback_replies: int
    escalations: int
    handoff: bool

    @property
    def fallback(self) -> bool:
        """True when the model fell back at least once."""
        return self.nlu_fallbacks > 0 or self.fallback_replies > 0


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows of the group meet the condition (portable: no FILTER clause)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _stats(session: Session, filters: ConversationFilters, threshold: float) -> Subquery:
    """Per-conversation figures from the tracker store, over the date range."""
    events = tracker_events.c
    from_participant = participant_message(session)
    columns = [
        events.sender_id,
        func.min(events.timestamp).label("first_ts"),
        func.max(events.timestamp).label("last_ts"),
        _count(from_participant).label("participant_messages"),
        _count(events.type_name == "bot").label("bot_messages"),
        func.min(case((from_participant, effective_confidence(session)))).label("min_conf"),
        _count(and_(from_participant, events.intent_name == FALLBACK_INTENT)).label(
            "nlu_fallbacks"
        ),
        _count(and_(events.type_name == "action", events.action_name.in_(FALLBACK_ACTIONS))).label(
            "fallback_replies"
        ),
        _count(
            or_(
                events.type_name == "pause",
                and_(events.type_name == "action", events.action_name.in_(HANDOFF_ACTIONS)),
            )
        ).label("handoff_events"),
        _count(
            and_(from_participant, intent_matches(session, filters.intent))
            if filters.intent
            else false()
        ).label("intent_hits"),
        _count(and_(from_participant, low_confidence(session, threshold))).label("low_hits"),
    ]
    return (
        select(*columns)
        .where(filters.dates.events_within())
        .group_by(events.sender_id)
        .subquery("conversation_stats")
    )


def _escalations(dates: DateRange, *, handoff_only: bool = False) -> ScalarSelect:
    """How many escalations the row's participant had in the range (a scalar subquery)."""
    query = select(func.count(Escalation.id)).where(
        Escalation.participant_id == Participant.id,
        dates.rows_within(Escalation.created_at),
    )
    if handoff_only:
        query = query.where(Escalation.type == EscalationType.HANDOFF)
    return query.scalar_subquery()


def _conversations_query(
    session: Session, filters: ConversationFilters, threshold: float
) -> Select:
    """The list query: tracker figures joined to participants, filtered, newest first."""
    stats = _stats(session, filters, threshold)
    escalations = _escalations(filters.dates)
    handoffs = _escalations(filters.dates, handoff_only=True)
    query = select(
        stats,
        Participant.id.label("participant_id"),
        Participant.study_id,
        Participant.channel,
        Participant.language,
        escalations.label("escalations"),
        handoffs.label("handoff_escalations"),
    ).outerjoin(Participant, Participant.sender_id == stats.c.sender_id)
    return _filtered(query, stats, filters, escalations, handoffs).order_by(
        stats.c.last_ts.desc(), stats.c.sender_id
    )


def _filtered(
    query: Select,
    stats: Subquery,
    filters: ConversationFilters,
    escalations: ScalarSelect,
    handoffs: ScalarSelect,
) -> Select:
    """Apply the researcher's filters to the list query."""
    if filters.study_id:
        needle = filters.study_id.strip().lower()
        query = query.where(func.lower(Participant.study_id).contains(needle, autoescape=True))
    if filters.channel is not None:
        query = query.where(Participant.channel == filters.channel)
    if filters.language is not None:
        query = query.where(Participant.language == filters.language)
    if filters.intent:
        query = query.where(stats.c.intent_hits > 0)
    if filters.low_confidence:
        query = query.where(stats.c.low_hits > 0)
    if filters.fallback:
        query = query.where(or_(stats.c.nlu_fallbacks > 0, stats.c.fallback_replies > 0))
    if filters.escalated:
        query = query.where(escalations > 0)
    if filters.handoff:
        query = query.where(or_(stats.c.handoff_events > 0, handoffs > 0))
    return query


def list_conversations(
    *,
    session: Session,
    filters: ConversationFilters | None = None,
    threshold: float = LOW_CONFIDENCE,
    limit: int = DEFAULT_PAGE_SIZE,
    offset: int = 0,
) -> list[ConversationSummary]:
    """Conversations matching the filters, most recent activity first."""
    if not tracker_store_ready(session=session):
        return []
    query = _conversations_query(session, filters or ConversationFilters(), threshold)
    rows = session.execute(query.limit(limit).offset(offset)).all()
    return [_summary(row) for row in rows]


def _summary(row: Any) -> ConversationSummary:
    """A list row as a ConversationSummary."""
    return ConversationSummary(
        sender_id=row.sender_id,
        participant_id=row.participant_id,
        study_id=row.study_id,
        channel=row.channel,
        language=row.language,
        first_activity=from_epoch(row.first_ts),
        last_activity=from_epoch(row.last_ts),
        participant_messages=int(row.participant_messages),
        bot_messages=int(row.bot_messages),
        min_confidence=None if row.min_conf is None else float(row.min_conf),
        nlu_fallbacks=int(row.nlu_fallbacks),
        fallback_replies=int(row.fallback_replies),
        escalations=int(row.escalations or 0),
        handoff=bool(row.handoff_events or row.handoff_escalations),
    )


# --- one transcript -----------------------------------------------------------------------


class EntryKind(str, enum.Enum):
    """What a line of the timeline is."""

    PARTICIPANT = "participant"
    TRIGGER = "trigger"
    ACTION = "action"
    BOT = "bot"
    SLOT = "slot"
    FORM = "form"
    PAUSE = "pause"
    RESUME = "resume"
    SESSION = "session"
    ESCALATION = "escalation"
    # From the message log only: sent by staff or outreach, or received but never handled.
    OUTBOUND = "outbound"
    INBOUND = "inbound"
    OTHER = "other"


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a transcript; which fields are set depends on the kind."""

    at: datetime
    kind: EntryKind
    text: str | None = None
    event_id: int | None = None
    intent: str | None = None
    confidence: float | None = None
    topic_confidence: float | None = None
    low_confidence: bool = False
    entities: tuple[str, ...] = ()
    red_flags: tuple[str, ...] = ()
    # The action, slot, form or event type; for actions `detail` is the policy.
    name: str | None = None
    value: str | None = None
    detail: str | None = None
    buttons: tuple[str, ...] = ()
    channel: str | None = None
    delivery_status: str | None = None
    message_log_id: int | None = None
    escalation_id: int | None = None
    # A message's language as logged ("en", "es"; message_log.language).
    language: str | None = None


@dataclass(frozen=True)
class Transcript:
    """A conversation's timeline, with who it belongs to."""

    sender_id: str
    participant_id: int | None
    study_id: str | None
    channel: Channel | None
    status: ParticipantStatus | None
    entries: list[TimelineEntry]
    # The participant's language now ("en", "es"); None without a participant.
    language: str | None = None

    def count(self, kind: EntryKind) -> int:
        """How many entries of one kind the timeline has."""
        return sum(1 for entry in self.entries if entry.kind is kind)


def _float(value: Any) -> float | None:
    """A JSON number as a float (None for anything else)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _user_entry(row: Any, data: dict[str, Any], threshold: float) -> TimelineEntry:
    """A user event: the participant's message with what the NLU made of it."""
    at, text = from_epoch(row.timestamp), str(data.get("text") or "")
    parse = data.get("parse_data") or {}
    intent = parse.get("intent") or {}
    if text.startswith(EXTERNAL_PREFIX):
        name = intent.get("name")
        return TimelineEntry(at=at, kind=EntryKind.TRIGGER, event_id=row.id, name=name)
    name = intent.get("full_retrieval_intent_name") or intent.get("name")
    confidence = _float(intent.get("confidence"))
    topic = (parse.get("response_selector") or {}).get(RETRIEVAL_INTENT) or {}
    topic_confidence = (
        _float((topic.get("response") or {}).get("confidence"))
        if intent.get("name") == RETRIEVAL_INTENT
        else None
    )
    lowest = min(c for c in (confidence, topic_confidence, 1.0) if c is not None)
    metadata = data.get("metadata") or {}
    log_id = metadata.get("message_log_id") if isinstance(metadata, dict) else None
    return TimelineEntry(
        at=at,
        kind=EntryKind.PARTICIPANT,
        text=text,
        event_id=row.id,
        intent=name,
        confidence=confidence,
        topic_confidence=topic_confidence,
        low_confidence=intent.get("name") == FALLBACK_INTENT or lowest < threshold,
        entities=tuple(
            f"{entity.get('entity')}: {entity.get('value')}"
            for entity in parse.get("entities") or []
            if isinstance(entity, dict)
        ),
        red_flags=tuple(
            str(flag.get("category"))
            for flag in parse.get("red_flags") or []
            if isinstance(flag, dict)
        ),
        message_log_id=log_id if isinstance(log_id, int) else None,
    )


def _action_entry(row: Any, data: dict[str, Any]) -> TimelineEntry | None:
    """An action the assistant ran, with the policy that chose it."""
    name = data.get("name") or row.action_name
    if name in HIDDEN_ACTIONS:
        return None
    confidence, policy = _float(data.get("confidence")), data.get("policy")
    return TimelineEntry(
        at=from_epoch(row.timestamp),
        kind=EntryKind.ACTION,
        event_id=row.id,
        name=name,
        confidence=confidence,
        detail=str(policy) if policy else None,
    )


def _bot_entry(row: Any, data: dict[str, Any]) -> TimelineEntry:
    """A reply of the assistant, with its buttons."""
    extra = data.get("data") or {}
    buttons = (extra.get("buttons") or []) if isinstance(extra, dict) else []
    return TimelineEntry(
        at=from_epoch(row.timestamp),
        kind=EntryKind.BOT,
        event_id=row.id,
        text=str(data.get("text") or ""),
        buttons=tuple(
            str(button.get("title") or button.get("payload") or "")
            for button in buttons
            if isinstance(button, dict)
        ),
    )


def _slot_value(value: Any) -> str:
    """A slot value as short text."""
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return shown[:MAX_SLOT_VALUE_LENGTH]


def _slot_entry(row: Any, data: dict[str, Any]) -> TimelineEntry:
    """A slot set."""
    return TimelineEntry(
        at=from_epoch(row.timestamp),
        kind=EntryKind.SLOT,
        event_id=row.id,
        name=data.get("name"),
        value=_slot_value(data.get("value")),
    )


def _simple_entry(kind: EntryKind) -> Callable[[Any, dict[str, Any]], TimelineEntry]:
    """A builder for events that carry no more than their name."""

    def build(row: Any, data: dict[str, Any]) -> TimelineEntry:
        return TimelineEntry(
            at=from_epoch(row.timestamp),
            kind=kind,
            event_id=row.id,
            name=data.get("name") or (row.type_name if kind is EntryKind.OTHER else None),
        )

    return build


_BUILDERS: dict[str, Callable[[Any, dict[str, Any]], TimelineEntry | None]] = {
    "action": _action_entry,
    "bot": _bot_entry,
    "slot": _slot_entry,
    "active_loop": _simple_entry(EntryKind.FORM),
    "pause": _simple_entry(EntryKind.PAUSE),
    "resume": _simple_entry(EntryKind.RESUME),
    "session_started": _simple_entry(EntryKind.SESSION),
}


def _tracker_entries(
    session: Session, sender_id: str, dates: DateRange, threshold: float
) -> list[TimelineEntry]:
    """The conversation's tracker events as timeline entries, in the order they happened."""
    if not tracker_store_ready(session=session):
        return []
    rows = session.execute(
        select(tracker_events)
        .where(tracker_events.c.sender_id == sender_id, dates.events_within())
        .order_by(tracker_events.c.timestamp, tracker_events.c.id)
    ).all()
    entries = []
    for row in rows:
        if row.type_name in HIDDEN_EVENTS:
            continue
        data = json.loads(row.data or "{}")
        if row.type_name == "user":
            entries.append(_user_entry(row, data, threshold))
            continue
        entry = _BUILDERS.get(row.type_name, _simple_entry(EntryKind.OTHER))(row, data)
        if entry is not None:
            entries.append(entry)
    return entries


def _escalation_entries(
    session: Session, participant_id: int | None, dates: DateRange
) -> list[TimelineEntry]:
    """The participant's escalations, as raised."""
    if participant_id is None:
        return []
    escalations = session.execute(
        select(Escalation)
        .where(
            Escalation.participant_id == participant_id, dates.rows_within(Escalation.created_at)
        )
        .order_by(Escalation.created_at, Escalation.id)
    ).scalars()
    return [
        TimelineEntry(
            at=escalation.created_at,
            kind=EntryKind.ESCALATION,
            escalation_id=escalation.id,
            name=f"{escalation.level.value} {escalation.type.value}",
            value=escalation.status.value,
            detail=escalation.level.value,
            text=escalation.reason,
            message_log_id=escalation.message_log_id,
        )
        for escalation in escalations
    ]


def _normalised(text: str | None) -> str:
    """Text compared loosely: lower case, single spaces."""
    return " ".join((text or "").lower().split())


def _same_message(log: MessageLog, entry: TimelineEntry) -> bool:
    """True when a message-log row is this tracker message (channels may add options)."""
    logged, said = _normalised(log.text), _normalised(entry.text)
    if log.direction.value == "in":
        return entry.message_log_id == log.id or (entry.message_log_id is None and logged == said)
    return bool(said) and logged.startswith(said)


class _Matcher:
    """Finds the tracker message a message-log row stands for (each one used once)."""

    def __init__(self, entries: Sequence[TimelineEntry], kind: EntryKind) -> None:
        self.indexes = [i for i, entry in enumerate(entries) if entry.kind is kind]
        self.times = [entries[i].at for i in self.indexes]
        self.used: set[int] = set()

    def find(self, log: MessageLog, entries: Sequence[TimelineEntry]) -> int | None:
        """The index of the matching entry near the log row's time, or None."""
        low = bisect_left(self.times, log.created_at - MATCH_WINDOW)
        high = bisect_right(self.times, log.created_at + MATCH_WINDOW)
        for index in self.indexes[low:high]:
            if index not in self.used and _same_message(log, entries[index]):
                self.used.add(index)
                return index
        return None


def _log_only_entry(log: MessageLog) -> TimelineEntry:
    """A message-log row the tracker has no event for (staff, outreach, unhandled)."""
    inbound = log.direction.value == "in"
    return TimelineEntry(
        at=log.created_at,
        kind=EntryKind.INBOUND if inbound else EntryKind.OUTBOUND,
        text=log.text,
        channel=log.channel.value,
        delivery_status=log.delivery_status,
        message_log_id=log.id,
        language=log.language,
    )


def _merge_message_log(
    session: Session, sender_id: str, dates: DateRange, entries: list[TimelineEntry]
) -> list[TimelineEntry]:
    """Delivery details on tracker messages, and the messages only the log has."""
    logs = session.execute(
        select(MessageLog)
        .where(MessageLog.sender_id == sender_id, dates.rows_within(MessageLog.created_at))
        .order_by(MessageLog.created_at, MessageLog.id)
    ).scalars()
    by_time = sorted(entries, key=lambda entry: entry.at)
    inbound = _Matcher(by_time, EntryKind.PARTICIPANT)
    outbound = _Matcher(by_time, EntryKind.BOT)
    extra: list[TimelineEntry] = []
    for log in logs:
        matcher = inbound if log.direction.value == "in" else outbound
        index = matcher.find(log, by_time)
        if index is None:
            extra.append(_log_only_entry(log))
            continue
        by_time[index] = replace(
            by_time[index],
            channel=log.channel.value,
            delivery_status=log.delivery_status,
            message_log_id=log.id,
            language=log.language,
        )
    return by_time + extra


def transcript(
    *,
    session: Session,
    sender_id: str,
    dates: DateRange | None = None,
    threshold: float = LOW_CONFIDENCE,
) -> Transcript | None:
    """One conversation as a timeline ordered by time; None when there is no such one."""
    dates = dates or DateRange()
    participant = session.execute(
        select(Participant).where(Participant.sender_id == sender_id)
    ).scalar_one_or_none()
    entries = _tracker_entries(session, sender_id, dates, threshold)
    if participant is None and not entries:
        return None
    participant_id = participant.id if participant else None
    entries = _merge_message_log(session, sender_id, dates, entries)
    entries += _escalation_entries(session, participant_id, dates)
    entries.sort(key=lambda entry: entry.at)
    logger.debug("transcript of participant %s: %d entries", participant_id, len(entries))
    return Transcript(
        sender_id=sender_id,
        participant_id=participant_id,
        study_id=participant.study_id if participant else None,
        channel=participant.channel if participant else None,
        status=participant.status if participant else None,
        entries=entries,
        language=participant.language if participant else None,
    )
