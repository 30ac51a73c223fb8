"""The one place escalations are created, and kept to one open item per concern.

A repeated withdrawal, a symptom already open for the participant, or another request for
a person updates the open item instead of adding a row (`raise_or_merge` has the rule;
emergencies are never merged).

Staff alerting reads new escalations from the table (an outbox), so nothing here depends on
any outside service being up: the escalation is stored first, in the same transaction as
what caused it.

An escalation about a participant's message that is being handled a minute or more after
it arrived (the assistant was down, and the message was recovered from the message log;
or it waited behind a slow turn) says so at the start of its reason, so staff see the
delay in the alert and the console: "handled 7 min after it arrived (...)".
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import (
    Direction,
    Escalation,
    EscalationLevel,
    EscalationStatus,
    EscalationType,
    MessageLog,
    Participant,
)
from bot.db.types import utcnow
from bot.staff import audit
from bot.staff.audit import SYSTEM_ACTOR, AuditAction

logger = logging.getLogger(__name__)

# Easy to read and type on a phone: no 0/O, 1/I/L.
ACK_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
ACK_CODE_LENGTH = 6
ACK_CODE_TRIES = 10


# A message handled this long after it arrived waited for the assistant.
LATE_AFTER = timedelta(minutes=1)
# Types with one open item per participant and concern (raise_or_merge); never emergencies.
MERGED_TYPES = frozenset(
    {EscalationType.WITHDRAWAL, EscalationType.HANDOFF, EscalationType.SYMPTOM}
)
# Higher is more severe.
LEVEL_ORDER = {EscalationLevel.EMERGENCY: 2, EscalationLevel.URGENT: 1, EscalationLevel.ROUTINE: 0}
# Repeats stop being appended to a reason beyond this (the count still goes up).
MAX_REASON_LENGTH = 2000


def latest_inbound_message_id(*, session: Session, sender_id: str) -> int | None:
    """The message-log ID of the participant's message being handled.

    Their oldest message still waiting to be handled (`bot.messaging.inbound` handles a
    participant's messages one at a time, oldest first), else their latest message.
    """
    inbound = [MessageLog.sender_id == sender_id, MessageLog.direction == Direction.INBOUND]
    waiting = session.execute(
        select(MessageLog.id)
        .where(*inbound, MessageLog.handled_at.is_(None))
        .order_by(MessageLog.id)
        .limit(1)
    ).scalar_one_or_none()
    if waiting is not None:
        return int(waiting)
    return session.execute(
        select(MessageLog.id).where(*inbound).order_by(MessageLog.id.desc()).limit(1)
    ).scalar_one_or_none()


def handling_delay(*, session: Session, message_log_id: int | None) -> timedelta | None:
    """How long ago a message being handled now arrived, if a minute or more (else None)."""
    if message_log_id is None:
        return None
    entry = session.get(MessageLog, message_log_id)
    if entry is None or entry.direction is not Direction.INBOUND or entry.handled_at is not None:
        return None
    waited = utcnow() - entry.created_at
    return waited if waited >= LATE_AFTER else None


def late_note(waited: timedelta) -> str:
    """Staff language for a message handled late."""
    minutes = int(waited.total_seconds() // 60)
    return f"handled {minutes} min after it arrived (the assistant was down or delayed)"


def new_ack_code(*, session: Session) -> str:
    """A short code no other escalation has, that staff text back as `ACK <code>`."""
    for _ in range(ACK_CODE_TRIES):
        code = "".join(secrets.choice(ACK_CODE_ALPHABET) for _ in range(ACK_CODE_LENGTH))
        taken = session.execute(select(Escalation.id).where(Escalation.ack_code == code)).first()
        if taken is None:
            return code
    raise RuntimeError("could not find a free acknowledgement code")


@dataclass(frozen=True)
class Raised:
    """The escalation a concern is in now, whether an open one was updated (merged), and
    the older item a more severe new one replaced (resolved), if any."""

    escalation: Escalation
    merged: bool
    superseded: Escalation | None = None


def raise_escalation(
    *,
    session: Session,
    participant_id: int,
    level: EscalationLevel,
    type: EscalationType,
    reason: str,
    message_log_id: int | None = None,
    trigger_message_id: str | None = None,
    concern: str | None = None,
) -> Escalation:
    """Store an open escalation for staff, or update the open one of the same concern.

    `reason` is staff language, not their words; `concern` is what a symptom escalation
    is about (the symptom's key). See `raise_or_merge` for when an item is updated.
    """
    return raise_or_merge(
        session=session,
        participant_id=participant_id,
        level=level,
        type=type,
        reason=reason,
        message_log_id=message_log_id,
        trigger_message_id=trigger_message_id,
        concern=concern,
    ).escalation


def raise_or_merge(
    *,
    session: Session,
    participant_id: int,
    level: EscalationLevel,
    type: EscalationType,
    reason: str,
    message_log_id: int | None = None,
    trigger_message_id: str | None = None,
    concern: str | None = None,
) -> Raised:
    """One open item per participant and concern: update the open one, or store a new one.

    The rule. A concern is (participant, type) for a withdrawal or a request for a person,
    and (participant, symptom, `concern` = the symptom's key) for a symptom; a symptom
    escalation without its key, and every other type (questions, check-in notes, no-reply
    and at-risk notes: each a different thing), always gets its own row. When the
    participant already has an unresolved item (open or acknowledged) of the same concern:

    - at the same or a lower level, that item is updated: `repeat_count` + 1, `updated_at`
      now, and "again (message <id>): <reason>" appended to its reason; it keeps its first
      `created_at`, trigger message, acknowledgement code and status (whoever acknowledged
      it has it; the repeat shows in the console);
    - at a higher level (a cough now severe), a new item is stored, so its alert goes out
      at the new level (the alert worker pages for new rows only), and the older item is
      resolved by the system as "superseded by escalation <id>" (audited).

    Emergencies are never merged: each emergency message gets its own row (one per
    message, `bot.safety.emergency`, migration 0008's unique index on the trigger), because
    a second red flag is a new event that must page staff at once and be acknowledged on
    its own; folding it into an earlier, perhaps acknowledged, emergency would silence it.

    Two processes raising the same concern at the same instant get one item: the check
    locks the participant's row first (`_open_item_of_concern`), so the second waits for
    the first's transaction and then updates its item.
    When the message it is about is handled late, the reason starts by saying so.
    """
    waited = handling_delay(session=session, message_log_id=message_log_id)
    if waited is not None:
        reason = f"{late_note(waited)}; {reason}"
    existing = _open_item_of_concern(
        session=session, participant_id=participant_id, type=type, concern=concern
    )
    if existing is not None and LEVEL_ORDER[level] <= LEVEL_ORDER[existing.level]:
        _repeat(existing, reason=reason, message_log_id=message_log_id)
        logger.info(
            "escalation %s: repeated (%s %s) for participant %s",
            existing.id,
            level.value,
            type.value,
            participant_id,
        )
        return Raised(existing, merged=True)
    escalation = Escalation(
        participant_id=participant_id,
        level=level,
        type=type,
        reason=reason,
        message_log_id=message_log_id,
        trigger_message_id=trigger_message_id,
        concern=concern if type is EscalationType.SYMPTOM else None,
        status=EscalationStatus.OPEN,
        ack_code=new_ack_code(session=session),
    )
    session.add(escalation)
    session.flush()
    logger.info(
        "escalation %s: %s %s for participant %s",
        escalation.id,
        level.value,
        type.value,
        participant_id,
    )
    if existing is not None:
        _supersede(session=session, older=existing, newer=escalation)
    return Raised(escalation, merged=False, superseded=existing)


def _open_item_of_concern(
    *, session: Session, participant_id: int, type: EscalationType, concern: str | None
) -> Escalation | None:
    """The participant's oldest unresolved escalation of this concern (None: none, or a
    type that is never merged)."""
    if type not in MERGED_TYPES or (type is EscalationType.SYMPTOM and not concern):
        return None
    # The participant's row is locked until this transaction ends, so a second process
    # raising the same concern waits here and then finds this one's item (PostgreSQL;
    # SQLite writes one transaction at a time and ignores FOR UPDATE).
    session.execute(
        select(Participant.id).where(Participant.id == participant_id).with_for_update()
    )
    query = select(Escalation).where(
        Escalation.participant_id == participant_id,
        Escalation.type == type,
        Escalation.status != EscalationStatus.RESOLVED,
    )
    if type is EscalationType.SYMPTOM:
        query = query.where(Escalation.concern == concern)
    return session.execute(
        query.order_by(Escalation.created_at, Escalation.id).limit(1)
    ).scalar_one_or_none()


def _repeat(escalation: Escalation, *, reason: str, message_log_id: int | None) -> None:
    """Note a repeat of the concern on its open item."""
    where = f" (message {message_log_id})" if message_log_id is not None else ""
    note = f"; again{where}: {reason}"
    if len(escalation.reason) + len(note) <= MAX_REASON_LENGTH:
        escalation.reason += note
    escalation.repeat_count = (escalation.repeat_count or 0) + 1
    escalation.updated_at = utcnow()


def _supersede(*, session: Session, older: Escalation, newer: Escalation) -> None:
    """Resolve an older item of a concern that a more severe one replaces (audited)."""
    now = utcnow()
    before = older.status
    older.status = EscalationStatus.RESOLVED
    older.resolved_by = SYSTEM_ACTOR
    older.resolved_at = now
    older.resolution_note = f"superseded by escalation {newer.id} ({newer.level.value})"
    older.updated_at = now
    audit.record(
        session=session,
        actor=SYSTEM_ACTOR,
        action=AuditAction.ESCALATION_RESOLVED,
        participant_id=older.participant_id,
        escalation_id=older.id,
        old={"status": before.value},
        new={"status": older.status.value},
        reason=older.resolution_note,
    )


def open_escalations(*, session: Session, participant_id: int) -> list[Escalation]:
    """The participant's escalations staff have not resolved, newest first."""
    rows = session.execute(
        select(Escalation)
        .where(
            Escalation.participant_id == participant_id,
            Escalation.status != EscalationStatus.RESOLVED,
        )
        .order_by(Escalation.created_at.desc())
    ).scalars()
    return list(rows)
