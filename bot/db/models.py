"""The project's tables. Rasa's own tracker store keeps its `events` table beside them."""

from __future__ import annotations

import enum
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeMeta, Mapped, registry, relationship

from bot.db.types import UTCDateTime, utcnow

mapper_registry = registry()


class Base(metaclass=DeclarativeMeta):
    """Declarative base of every table (spelled out so type checkers see a class)."""

    __abstract__ = True
    registry = mapper_registry
    metadata = mapper_registry.metadata
    __init__ = mapper_registry.constructor


# Tables that belong to Rasa, not to our migrations.
RASA_TABLES = frozenset({"events"})
# Rasa's SQLTrackerStore table (rasa.core.tracker_store.SQLTrackerStore.SQLEvent), for
# queries only: Rasa creates it, with an index on `sender_id`, and it is kept out of the
# project's metadata and migrations on purpose.
tracker_events = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)
# Inbound messages acknowledged but not handled yet (the partial index's condition).
UNHANDLED_INBOUND = "handled_at IS NULL AND direction = 'in'"
# Tables whose rows the database refuses to change or delete (triggers made in migration 0005).
APPEND_ONLY_TABLES = frozenset({"audit_events"})


class Channel(str, enum.Enum):
    """How a participant talks to the assistant."""

    WEB = "web"
    SMS = "sms"
    TELEGRAM = "telegram"


class ParticipantStatus(str, enum.Enum):
    """Where a participant stands in the study."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    COMPLETED = "completed"


class Direction(str, enum.Enum):
    """Whether a message came from the participant or went to them."""

    INBOUND = "in"
    OUTBOUND = "out"


def _enum(enum_class: type[enum.Enum], name: str) -> Enum:
    """Store an enum by its value, as a portable string with a CHECK constraint."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [member.value for member in members],
    )


class Participant(Base):
    """A person enrolled in the study, and how to reach them."""

    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("enrollment_code", name="uq_participants_enrollment_code"),
        UniqueConstraint("address_hash", name="uq_participants_address_hash"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    study_id: Mapped[str] = Column(String(64), nullable=False, unique=True)
    # The conversation ID Rasa keys its tracker by (never the phone number).
    sender_id: Mapped[str] = Column(String(255), nullable=False, unique=True)
    channel: Mapped[Channel] = Column(_enum(Channel, "channel"), nullable=False)
    # The phone number or Telegram chat ID, encrypted (bot.core.crypto); never stored in clear.
    address_encrypted: Mapped[str | None] = Column(Text)
    # A keyed hash of the address, to find the participant a message comes from.
    address_hash: Mapped[str | None] = Column(String(64))
    # What a Telegram participant sends as `/start <code>` to link their chat.
    enrollment_code: Mapped[str | None] = Column(String(32))
    # Set by SMS STOP (and the like): no outbound message of any kind until START.
    opted_out_at: Mapped[datetime | None] = Column(UTCDateTime)
    # Set after too many missed check-ins in a row; cleared when they answer again.
    at_risk_since: Mapped[datetime | None] = Column(UTCDateTime)
    timezone: Mapped[str] = Column(String(64), nullable=False, default="UTC")
    preferred_contact_time: Mapped[time | None] = Column(Time)
    # The language of everything sent to them ("en", "es"; bot.core.languages), and where
    # it came from: "enrollment", "detected", "participant", or None (not known yet: read
    # from their next message). See bot.participants.language.
    language: Mapped[str] = Column(String(16), nullable=False, default="en")
    language_source: Mapped[str | None] = Column(String(16))
    status: Mapped[ParticipantStatus] = Column(
        _enum(ParticipantStatus, "participant_status"),
        nullable=False,
        default=ParticipantStatus.ACTIVE,
    )
    enrolled_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    # Test traffic (every web-chat visitor): escalations page nobody by SMS or Telegram
    # (console only), and figures, reports and exports leave them out unless asked.
    is_test: Mapped[bool] = Column(Boolean, nullable=False, default=False, server_default=false())

    messages = relationship("MessageLog", back_populates="participant", lazy="raise")


def _handled_when_written(context: Any) -> datetime | None:
    """An inbound message is handled when written, unless its channel says it is not yet."""
    direction = context.get_current_parameters().get("direction")
    return utcnow() if direction == Direction.INBOUND else None


class MessageLog(Base):
    """Every message in or out, on any channel, with its delivery status.

    An inbound participant message the SMS or Telegram channel acknowledged before handling
    it waits with `handled_at` NULL until its turn is done (`bot.messaging.inbound`).
    """

    __tablename__ = "message_log"
    __table_args__ = (
        Index("ix_message_log_sender_created", "sender_id", "created_at"),
        # A channel's message ID is seen once per direction: a retried webhook is a duplicate.
        Index(
            "ux_message_log_channel_direction_external",
            "channel",
            "direction",
            "external_id",
            unique=True,
        ),
        Index("ix_message_log_retry", "delivery_status", "next_attempt_at"),
        Index("ix_message_log_reply", "reply_to_id", "reply_index"),
        # Inbound messages still to be handled, per participant and channel, oldest first.
        Index(
            "ix_message_log_unhandled",
            "participant_id",
            "channel",
            "id",
            sqlite_where=text(UNHANDLED_INBOUND),
            postgresql_where=text(UNHANDLED_INBOUND),
        ),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    participant_id: Mapped[int | None] = Column(
        Integer, ForeignKey("participants.id", ondelete="SET NULL"), index=True
    )
    sender_id: Mapped[str] = Column(String(255), nullable=False)
    channel: Mapped[Channel] = Column(_enum(Channel, "channel"), nullable=False)
    direction: Mapped[Direction] = Column(_enum(Direction, "direction"), nullable=False)
    text: Mapped[str] = Column(Text, nullable=False, default="")
    # The channel's own message ID (Twilio MessageSid, Telegram update/message id).
    external_id: Mapped[str | None] = Column(String(128))
    delivery_status: Mapped[str | None] = Column(String(20))
    error: Mapped[str | None] = Column(Text)
    # Buttons sent with an outbound message (so a failed send can be sent again as it was).
    buttons: Mapped[list | None] = Column(JSON)
    # Outbound: send attempts. Inbound: how often its handling was claimed.
    attempts: Mapped[int] = Column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = Column(UTCDateTime)
    # Inbound only: when the channel finished handling it (the guarded turn done, or a
    # keyword answered). NULL while it waits; rows written any other way (web chat, staff,
    # strangers, the demo) are handled when written.
    handled_at: Mapped[datetime | None] = Column(UTCDateTime, default=_handled_when_written)
    # Who is handling an inbound message (a claim token) and until when: a lease, renewed
    # while the turn runs; once it has run out, another Rasa server may take the message.
    claimed_by: Mapped[str | None] = Column(String(64))
    claimed_until: Mapped[datetime | None] = Column(UTCDateTime)
    # What the channel needs to handle an inbound message later, from the log alone
    # (Telegram: the kind of update and the pressed button's message; SMS: pictures).
    detail: Mapped[dict | None] = Column(JSON)
    # Outbound replies: the participant's message they answer and their number in its
    # handling, so a handling run again sends only what the first run did not
    # (bot.messaging.delivery). NULL for anything else (prompts, keywords, staff).
    reply_to_id: Mapped[int | None] = Column(
        Integer, ForeignKey("message_log.id", ondelete="SET NULL", name="fk_message_log_reply_to")
    )
    reply_index: Mapped[int | None] = Column(Integer)
    # The staff username who typed an outbound message during a handoff (None: the assistant).
    sent_by: Mapped[str | None] = Column(String(128))
    # The language of the text ("en", "es"): the participant's language when it was logged,
    # unless the writer knew better (a Spanish keyword, the web chat's switch). NULL for a
    # message of no participant (migration 0011 gave older rows their participant's).
    language: Mapped[str | None] = Column(String(16))
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = Column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    participant = relationship("Participant", back_populates="messages", lazy="raise")


class EscalationLevel(str, enum.Enum):
    """How fast staff must act."""

    EMERGENCY = "emergency"
    URGENT = "urgent"
    ROUTINE = "routine"


class EscalationType(str, enum.Enum):
    """What an escalation is about."""

    SYMPTOM = "symptom"
    EMERGENCY = "emergency"
    WITHDRAWAL = "withdrawal"
    QUESTION = "question"
    HANDOFF = "handoff"
    OTHER = "other"


class EscalationStatus(str, enum.Enum):
    """Where an escalation stands with staff."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class CheckinStatus(str, enum.Enum):
    """Where a check-in conversation stands."""

    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"


class Escalation(Base):
    """Something staff must look at: a red flag, a severe or worsening symptom, a request."""

    __tablename__ = "escalations"
    __table_args__ = (
        Index("ix_escalations_status_level", "status", "level"),
        UniqueConstraint("ack_code", name="uq_escalations_ack_code"),
        # One emergency escalation per participant message (bot.safety.emergency).
        Index(
            "uq_escalations_emergency_trigger",
            "trigger_message_id",
            unique=True,
            sqlite_where=text("type = 'emergency'"),
            postgresql_where=text("type = 'emergency'"),
        ),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    participant_id: Mapped[int] = Column(
        Integer, ForeignKey("participants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    level: Mapped[EscalationLevel] = Column(
        _enum(EscalationLevel, "escalation_level"), nullable=False
    )
    type: Mapped[EscalationType] = Column(_enum(EscalationType, "escalation_type"), nullable=False)
    # Staff language, never the participant's own words (those stay in the message log).
    reason: Mapped[str] = Column(Text, nullable=False)
    message_log_id: Mapped[int | None] = Column(
        Integer, ForeignKey("message_log.id", ondelete="SET NULL")
    )
    # Rasa's ID of the user message that triggered it (UserUttered.message_id).
    trigger_message_id: Mapped[str | None] = Column(String(64))
    status: Mapped[EscalationStatus] = Column(
        _enum(EscalationStatus, "escalation_status"),
        nullable=False,
        default=EscalationStatus.OPEN,
    )
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    acknowledged_by: Mapped[str | None] = Column(String(128))
    acknowledged_at: Mapped[datetime | None] = Column(UTCDateTime)
    resolved_by: Mapped[str | None] = Column(String(128))
    resolved_at: Mapped[datetime | None] = Column(UTCDateTime)
    resolution_note: Mapped[str | None] = Column(Text)
    # What staff text back (`ACK <code>`) to acknowledge it; set by raise_escalation.
    ack_code: Mapped[str] = Column(String(12), nullable=False)
    # What a symptom escalation is about (the symptom's key), so a repeat finds its open
    # item (bot.escalation.records.raise_or_merge); None for other types.
    concern: Mapped[str | None] = Column(String(64))
    # How often the concern came up again while this item was unresolved, and when last.
    repeat_count: Mapped[int] = Column(Integer, nullable=False, default=0, server_default="0")
    updated_at: Mapped[datetime | None] = Column(UTCDateTime)

    participant = relationship("Participant", lazy="raise")


class Checkin(Base):
    """One check-in conversation: how they feel, new problems, medicine, questions."""

    __tablename__ = "checkins"

    id: Mapped[int] = Column(Integer, primary_key=True)
    participant_id: Mapped[int] = Column(
        Integer, ForeignKey("participants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    status: Mapped[CheckinStatus] = Column(
        _enum(CheckinStatus, "checkin_status"), nullable=False, default=CheckinStatus.IN_PROGRESS
    )
    # 1 (very good) to 5 (very bad); None when the answer was free text (see answers_text).
    overall_feeling: Mapped[int | None] = Column(Integer)
    new_problem: Mapped[bool | None] = Column(Boolean)
    took_medicine: Mapped[str | None] = Column(String(16))  # yes / no / some
    question: Mapped[str | None] = Column(Text)
    # Answers that did not fit the choices, kept word for word for staff (JSON object).
    free_text_answers: Mapped[dict | None] = Column(JSON)
    started_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    completed_at: Mapped[datetime | None] = Column(UTCDateTime)


class SymptomReport(Base):
    """One symptom graded on the PRO-CTCAE scales (0 none to 4 very severe)."""

    __tablename__ = "symptom_reports"
    __table_args__ = (Index("ix_symptom_reports_participant_symptom", "participant_id", "symptom"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    participant_id: Mapped[int] = Column(
        Integer, ForeignKey("participants.id", ondelete="CASCADE"), nullable=False
    )
    checkin_id: Mapped[int | None] = Column(Integer, ForeignKey("checkins.id", ondelete="SET NULL"))
    symptom: Mapped[str] = Column(String(64), nullable=False)
    severity: Mapped[int | None] = Column(Integer)
    frequency: Mapped[int | None] = Column(Integer)
    interference: Mapped[int | None] = Column(Integer)
    # The grade the alert rules use: severity, else frequency, else interference.
    # None when an answer did not fit the scale (kept in raw_answer for staff to read).
    grade: Mapped[int | None] = Column(Integer)
    raw_answer: Mapped[str] = Column(Text, nullable=False, default="")
    reported_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)


class DoseReport(Base):
    """Whether a study dose was taken as planned (from a check-in or a missed-dose message)."""

    __tablename__ = "dose_reports"

    id: Mapped[int] = Column(Integer, primary_key=True)
    participant_id: Mapped[int] = Column(
        Integer, ForeignKey("participants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    checkin_id: Mapped[int | None] = Column(Integer, ForeignKey("checkins.id", ondelete="SET NULL"))
    taken: Mapped[str] = Column(String(16), nullable=False)  # yes / no / some
    source: Mapped[str] = Column(String(16), nullable=False)  # checkin / message
    reported_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)


class AppointmentStatus(str, enum.Enum):
    """Where a planned visit stands."""

    PLANNED = "planned"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


class Appointment(Base):
    """A participant's visit, planned from the study's schedule and their enrollment date."""

    __tablename__ = "appointments"

    id: Mapped[int] = Column(Integer, primary_key=True)
    participant_id: Mapped[int] = Column(
        Integer, ForeignKey("participants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    visit_key: Mapped[str] = Column(String(64), nullable=False)
    scheduled_at: Mapped[datetime] = Column(UTCDateTime, nullable=False)
    status: Mapped[AppointmentStatus] = Column(
        _enum(AppointmentStatus, "appointment_status"),
        nullable=False,
        default=AppointmentStatus.PLANNED,
    )
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)


class OutreachStatus(str, enum.Enum):
    """Where a planned proactive message stands."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"


class ScheduledMessage(Base):
    """A proactive message due at a time: check-in prompt, nudge, visit or dose reminder.

    `dedupe_key` makes planning idempotent and a send happen once, across restarts.
    """

    __tablename__ = "scheduled_messages"
    __table_args__ = (Index("ix_scheduled_messages_due", "status", "due_at"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    participant_id: Mapped[int] = Column(
        Integer, ForeignKey("participants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = Column(String(32), nullable=False)
    due_at: Mapped[datetime] = Column(UTCDateTime, nullable=False)
    dedupe_key: Mapped[str] = Column(String(160), nullable=False, unique=True)
    status: Mapped[OutreachStatus] = Column(
        _enum(OutreachStatus, "outreach_status"), nullable=False, default=OutreachStatus.PENDING
    )
    detail: Mapped[dict | None] = Column(JSON)
    attempts: Mapped[int] = Column(Integer, nullable=False, default=0)
    sent_at: Mapped[datetime | None] = Column(UTCDateTime)
    note: Mapped[str | None] = Column(Text)
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    # The worker sending it (a claim token) and since when: a claim is a lease, and a row
    # still 'sending' after it belongs to a worker that stopped (bot.outreach.worker).
    claimed_by: Mapped[str | None] = Column(String(64))
    claimed_at: Mapped[datetime | None] = Column(UTCDateTime)


class StaffRole(str, enum.Enum):
    """What a console user may do (bot.staff.permissions has the matrix)."""

    STAFF = "staff"
    RESEARCHER = "researcher"
    ADMIN = "admin"


class StaffUser(Base):
    """A study-team member who signs in to the staff console and receives alerts."""

    __tablename__ = "staff_users"
    __table_args__ = (
        UniqueConstraint("username", name="uq_staff_users_username"),
        UniqueConstraint("phone_hash", name="uq_staff_users_phone_hash"),
        UniqueConstraint("telegram_chat_id_hash", name="uq_staff_users_telegram_chat_id_hash"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    username: Mapped[str] = Column(String(64), nullable=False)
    display_name: Mapped[str] = Column(String(128), nullable=False)
    role: Mapped[StaffRole] = Column(_enum(StaffRole, "staff_role"), nullable=False)
    # argon2id (argon2-cffi's encoded form, parameters included); never the password.
    password_hash: Mapped[str] = Column(String(255), nullable=False)
    active: Mapped[bool] = Column(Boolean, nullable=False, default=True, server_default=true())
    # The password was set by someone else (create-user, an admin): one sign-in, then change it.
    must_change_password: Mapped[bool] = Column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    # The zone the console shows them times in (None: the study site's).
    timezone: Mapped[str | None] = Column(String(64))
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = Column(UTCDateTime)
    # Where alerts reach them, encrypted (bot.core.crypto), and keyed hashes to recognise a reply.
    phone_encrypted: Mapped[str | None] = Column(Text)
    phone_hash: Mapped[str | None] = Column(String(64))
    telegram_chat_id_encrypted: Mapped[str | None] = Column(Text)
    telegram_chat_id_hash: Mapped[str | None] = Column(String(64))
    # When they proved each address reaches them (a check code typed in the console,
    # bot.alerts.verification); None: never, or the address changed since.
    phone_verified_at: Mapped[datetime | None] = Column(UTCDateTime)
    telegram_chat_verified_at: Mapped[datetime | None] = Column(UTCDateTime)


class AuditEvent(Base):
    """Who did or saw what, when, about which participant: append-only (database triggers).

    No foreign keys on purpose: the log outlives the rows it names, and a cascade would
    have to change or delete audit rows, which the triggers refuse.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_participant_at", "participant_id", "at"),
        Index("ix_audit_events_escalation_at", "escalation_id", "at"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    # A staff username, or "system".
    actor: Mapped[str] = Column(String(128), nullable=False)
    action: Mapped[str] = Column(String(64), nullable=False)
    participant_id: Mapped[int | None] = Column(Integer)
    escalation_id: Mapped[int | None] = Column(Integer)
    # Staff language, never the participant's words, phone numbers or passwords.
    detail: Mapped[str] = Column(Text, nullable=False, default="", server_default="")


class SignInAttempt(Base):
    """One console sign-in attempt, kept for rate limiting across processes."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_username_at", "username", "at"),
        Index("ix_sign_in_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    username: Mapped[str] = Column(String(64), nullable=False)
    ip: Mapped[str] = Column(String(64), nullable=False)
    at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    success: Mapped[bool] = Column(Boolean, nullable=False)


class Feedback(Base):
    """A participant's rating (1-5) and comment about the study or the assistant."""

    __tablename__ = "feedback"

    id: Mapped[int] = Column(Integer, primary_key=True)
    participant_id: Mapped[int] = Column(
        Integer, ForeignKey("participants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    rating: Mapped[int | None] = Column(Integer)
    comment: Mapped[str | None] = Column(Text)
    # "conversation" (they offered it) or the milestone key that asked for it ("week_12").
    source: Mapped[str] = Column(String(32), nullable=False, default="conversation")
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)


class LedgerStatus(str, enum.Enum):
    """Whether an incentive has been paid."""

    OWED = "owed"
    PAID = "paid"


class IncentiveEntry(Base):
    """Money a participant has earned under the study's rules (a visit, a bonus), and if paid."""

    __tablename__ = "incentive_ledger"
    __table_args__ = (
        # One entry per participant and reason (e.g. "visit:week_4", "bonus:week_12").
        UniqueConstraint("participant_id", "reason_key", name="uq_incentive_ledger_reason"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    participant_id: Mapped[int] = Column(
        Integer, ForeignKey("participants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    reason_key: Mapped[str] = Column(String(64), nullable=False)
    description: Mapped[str] = Column(String(200), nullable=False)
    amount_cents: Mapped[int] = Column(Integer, nullable=False)
    currency: Mapped[str] = Column(String(8), nullable=False, default="$")
    earned_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    status: Mapped[LedgerStatus] = Column(
        _enum(LedgerStatus, "ledger_status"), nullable=False, default=LedgerStatus.OWED
    )
    paid_at: Mapped[datetime | None] = Column(UTCDateTime)
    paid_by: Mapped[str | None] = Column(String(128))


class NluLabel(Base):
    """A researcher's label for a message the model was unsure of (the NLU improvement loop)."""

    __tablename__ = "nlu_labels"

    id: Mapped[int] = Column(Integer, primary_key=True)
    # The Rasa tracker-store event (table `events`) of the user message.
    event_id: Mapped[int] = Column(Integer, nullable=False, unique=True)
    sender_id: Mapped[str] = Column(String(255), nullable=False)
    predicted_intent: Mapped[str | None] = Column(String(128))
    confidence: Mapped[float | None] = Column(Float)
    # The right intent ("faq/placebo" for FAQ topics); None with out_of_scope.
    intent: Mapped[str | None] = Column(String(128))
    out_of_scope: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    labelled_by: Mapped[str] = Column(String(128), nullable=False)
    labelled_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    exported_at: Mapped[datetime | None] = Column(UTCDateTime)


class AlertChannel(str, enum.Enum):
    """Where a staff alert goes."""

    TELEGRAM = "telegram"
    SMS = "sms"
    CONSOLE = "console"


class AlertKind(str, enum.Enum):
    """What a staff message about an escalation says."""

    ALERT = "alert"
    # "Someone acknowledged it": to everyone who got the alert, so nobody acts twice.
    ACK_NOTICE = "ack_notice"


class AlertStatus(str, enum.Enum):
    """Where one alert delivery stands."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # will be tried again at next_attempt_at
    UNDELIVERED = "undelivered"  # gave up: shown in the console
    CANCELLED = "cancelled"  # not needed any more: acknowledged or resolved first


class AlertDelivery(Base):
    """One alert (or acknowledgement notice) to one staff recipient on one channel.

    Rows are planned per escalation and round (0 first, 1 backup, 2 everyone); the unique
    key makes planning idempotent, so a restarted worker never plans or sends a round twice.
    """

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint(
            "escalation_id", "kind", "round", "channel", "recipient", name="uq_alert_deliveries"
        ),
        Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
        Index("ix_alert_deliveries_external", "channel", "external_id"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    escalation_id: Mapped[int] = Column(
        Integer, ForeignKey("escalations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[AlertKind] = Column(_enum(AlertKind, "alert_kind"), nullable=False)
    round: Mapped[int] = Column(Integer, nullable=False, default=0)
    channel: Mapped[AlertChannel] = Column(_enum(AlertChannel, "alert_channel"), nullable=False)
    # Who, as staff read it ("staff:joy", "group chat", "queue"): never a number or chat ID.
    recipient: Mapped[str] = Column(String(80), nullable=False)
    # The staff user whose (encrypted) phone or chat it goes to; None for a group or the queue.
    staff_user_id: Mapped[int | None] = Column(
        Integer, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    status: Mapped[AlertStatus] = Column(
        _enum(AlertStatus, "alert_status"), nullable=False, default=AlertStatus.PENDING
    )
    attempts: Mapped[int] = Column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = Column(UTCDateTime)
    # Twilio's message SID, or "<chat key>:<message id>" for Telegram (to match replies).
    external_id: Mapped[str | None] = Column(String(128))
    error: Mapped[str | None] = Column(Text)
    # Every attempt and its result: [{"at": ISO time, "result": "sent" or the error}].
    attempt_log: Mapped[list | None] = Column(JSON)
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = Column(UTCDateTime)


class StaffAddressCheck(Base):
    """A check code sent to a staff user's alert address, waiting to be typed in the console."""

    __tablename__ = "staff_address_checks"
    __table_args__ = (UniqueConstraint("staff_user_id", "channel", name="uq_staff_address_checks"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    staff_user_id: Mapped[int] = Column(
        Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False
    )
    channel: Mapped[AlertChannel] = Column(_enum(AlertChannel, "alert_channel"), nullable=False)
    # The keyed hash of the address it went to: once the address changes, the code is void.
    address_hash: Mapped[str] = Column(String(64), nullable=False)
    # argon2id of the code (as passwords are); never the code.
    code_hash: Mapped[str] = Column(String(255), nullable=False)
    expires_at: Mapped[datetime] = Column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = Column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)


class Handoff(Base):
    """A staff member talking to a participant in person while the assistant is paused."""

    __tablename__ = "handoffs"
    __table_args__ = (
        # At most one active handoff per participant.
        Index(
            "ux_handoffs_active",
            "participant_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_handoffs_staff_active", "staff_user_id", "ended_at"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    participant_id: Mapped[int] = Column(
        Integer, ForeignKey("participants.id", ondelete="CASCADE"), nullable=False
    )
    escalation_id: Mapped[int | None] = Column(
        Integer, ForeignKey("escalations.id", ondelete="SET NULL")
    )
    staff_user_id: Mapped[int] = Column(
        Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False
    )
    # Where it was taken over: console, telegram or sms.
    via: Mapped[str] = Column(String(16), nullable=False)
    started_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    ended_at: Mapped[datetime | None] = Column(UTCDateTime)
    ended_by: Mapped[str | None] = Column(String(128))


class TrackerWindow(Base):
    """Where Rasa's tracker of a conversation starts reading (bot.db.tracker_store).

    A long conversation is read as a compact prefix that reproduces its state at a cut
    point (JSON events, never written to `events`) plus the events from `first_event_id`
    on. No row: the conversation is read the way Rasa's own SQLTrackerStore reads it.
    """

    __tablename__ = "tracker_windows"

    sender_id: Mapped[str] = Column(String(255), primary_key=True)
    # Rasa's events.id of the first event read from the table.
    first_event_id: Mapped[int] = Column(Integer, nullable=False)
    # The prefix's events, as Rasa serialises them (a JSON list; empty at a session start).
    prefix: Mapped[str] = Column(Text, nullable=False)
    updated_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)


class DeferredTurn(Base):
    """A Rasa turn whose replies were already sent by someone else (bot.outreach.deferred).

    The outreach worker sends a scheduled check-in's opening itself (the prompt and the
    first question) and leaves Rasa's `trigger_intent` turn that would have said the same
    to run later, unsent: before the participant's next message is handled (in the Rasa
    server, bot.safety.turn_guard), or by the worker when it has time. `said` holds what
    was sent; the turn's own replies are compared with it.

    Status: `held` (noted before the send: not yet armed), `pending` (sent: to run),
    `running` (claimed by `claimed_by` since `claimed_at`: a lease), `done`, `differs`
    (ran; Rasa would have said something else), `failed`.
    """

    __tablename__ = "deferred_turns"
    __table_args__ = (
        Index("ix_deferred_turns_participant", "participant_id", "status"),
        Index("ix_deferred_turns_status", "status", "id"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    participant_id: Mapped[int] = Column(
        Integer, ForeignKey("participants.id", ondelete="CASCADE"), nullable=False
    )
    sender_id: Mapped[str] = Column(String(255), nullable=False)
    # The scheduled message whose opening was sent (one turn per message).
    scheduled_message_id: Mapped[int | None] = Column(
        Integer, ForeignKey("scheduled_messages.id", ondelete="CASCADE"), unique=True
    )
    intent: Mapped[str] = Column(String(64), nullable=False)
    entities: Mapped[dict] = Column(JSON, nullable=False)
    said: Mapped[list] = Column(JSON, nullable=False)
    status: Mapped[str] = Column(String(16), nullable=False)
    claimed_by: Mapped[str | None] = Column(String(64))
    claimed_at: Mapped[datetime | None] = Column(UTCDateTime)
    note: Mapped[str | None] = Column(Text)
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    done_at: Mapped[datetime | None] = Column(UTCDateTime)
