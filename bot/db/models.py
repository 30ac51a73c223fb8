"""The project's tables. Rasa's own tracker store keeps its `events` table beside them."""

from __future__ import annotations

import enum
from datetime import datetime, time

from sqlalchemy import (
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
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

    id: Mapped[int] = Column(Integer, primary_key=True)
    study_id: Mapped[str] = Column(String(64), nullable=False, unique=True)
    # The conversation ID Rasa keys its tracker by (never the phone number).
    sender_id: Mapped[str] = Column(String(255), nullable=False, unique=True)
    channel: Mapped[Channel] = Column(_enum(Channel, "channel"), nullable=False)
    channel_address: Mapped[str | None] = Column(Text)
    timezone: Mapped[str] = Column(String(64), nullable=False, default="UTC")
    preferred_contact_time: Mapped[time | None] = Column(Time)
    language: Mapped[str] = Column(String(16), nullable=False, default="en")
    status: Mapped[ParticipantStatus] = Column(
        _enum(ParticipantStatus, "participant_status"),
        nullable=False,
        default=ParticipantStatus.ACTIVE,
    )
    enrolled_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)

    messages = relationship("MessageLog", back_populates="participant", lazy="raise")


class MessageLog(Base):
    """Every message in or out, on any channel, with its delivery status."""

    __tablename__ = "message_log"
    __table_args__ = (
        Index("ix_message_log_sender_created", "sender_id", "created_at"),
        Index("ix_message_log_channel_external", "channel", "external_id"),
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
    created_at: Mapped[datetime] = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = Column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    participant = relationship("Participant", back_populates="messages", lazy="raise")
