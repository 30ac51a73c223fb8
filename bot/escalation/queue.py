"""The escalation queue, and acknowledging and resolving escalations from any channel.

`acknowledge` and `resolve` are what the console buttons, the Telegram alert button and an
SMS `ACK <code>` reply all call: each checks that the actor is an active staff user whose
role may act, changes the escalation with a conditional UPDATE (so when two people act at
once only the first counts), and writes the audit event in the caller's transaction.
The caller commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, literal, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select

from bot.db.models import (
    Escalation,
    EscalationLevel,
    EscalationStatus,
    EscalationType,
    Participant,
    StaffUser,
)
from bot.db.types import UTCDateTime, utcnow
from bot.staff import audit
from bot.staff.audit import AuditAction
from bot.staff.auth import get_user_by_username
from bot.staff.permissions import NotAllowed, Permission, allows
from bot.study.config import StudyConfig, current_study

logger = logging.getLogger(__name__)

MAX_NOTE_LENGTH = 2000
DEFAULT_QUEUE_LIMIT = 200
LEVEL_RANK = {EscalationLevel.EMERGENCY: 0, EscalationLevel.URGENT: 1, EscalationLevel.ROUTINE: 2}
STATUS_RANK = {EscalationStatus.OPEN: 0, EscalationStatus.ACKNOWLEDGED: 1}


class EscalationNotFound(LookupError):
    """No escalation has this ID."""


@dataclass(frozen=True)
class QueueEntry:
    """One escalation as staff see it: who, how urgent, how old, and who has it."""

    escalation_id: int
    participant_id: int
    study_id: str
    level: EscalationLevel
    type: EscalationType
    reason: str
    # The message-log entry that caused it (highlighted in the conversation), if known.
    message_log_id: int | None
    status: EscalationStatus
    ack_code: str
    created_at: datetime
    age: timedelta
    target: timedelta
    due_at: datetime
    overdue: bool
    acknowledged_by: str | None
    acknowledged_by_name: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_by_name: str | None
    resolved_at: datetime | None
    resolution_note: str | None
    # How often the concern came up again while unresolved, and when last (records).
    repeat_count: int = 0
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ParticipantItems:
    """A participant's unresolved escalations, most severe first, as one queue group."""

    participant_id: int
    study_id: str
    items: list[QueueEntry]

    @property
    def level(self) -> EscalationLevel:
        """The most severe level among the items."""
        return self.items[0].level

    @property
    def open_count(self) -> int:
        """How many items nobody has acknowledged yet."""
        return sum(1 for item in self.items if item.status is EscalationStatus.OPEN)

    @property
    def overdue(self) -> bool:
        """True when an open item is past its response time."""
        return any(item.overdue for item in self.items)


@dataclass(frozen=True)
class Outcome:
    """Whether this call changed the escalation, and the escalation as it now stands."""

    changed: bool
    escalation: Escalation


def response_target(study: StudyConfig, level: EscalationLevel) -> timedelta:
    """How long staff have to acknowledge an escalation of this level (study config)."""
    minutes: int = getattr(study.escalation.response_minutes, level.value)
    return timedelta(minutes=minutes)


def _entries_query() -> Select:
    """Escalations with their study ID and the names of who acknowledged and resolved them."""
    acknowledger, resolver = aliased(StaffUser), aliased(StaffUser)
    return (
        select(Escalation, Participant.study_id, acknowledger.display_name, resolver.display_name)
        .join(Participant, Participant.id == Escalation.participant_id)
        .outerjoin(acknowledger, acknowledger.username == Escalation.acknowledged_by)
        .outerjoin(resolver, resolver.username == Escalation.resolved_by)
    )


def _entry(row: Row, study: StudyConfig, now: datetime) -> QueueEntry:
    """A queue entry, with age, target time and whether it is overdue."""
    escalation, study_id, acknowledger, resolver = row
    target = response_target(study, escalation.level)
    due_at = escalation.created_at + target
    return QueueEntry(
        escalation_id=escalation.id,
        participant_id=escalation.participant_id,
        study_id=study_id,
        level=escalation.level,
        type=escalation.type,
        reason=escalation.reason,
        message_log_id=escalation.message_log_id,
        status=escalation.status,
        ack_code=escalation.ack_code,
        created_at=escalation.created_at,
        age=now - escalation.created_at,
        target=target,
        due_at=due_at,
        overdue=escalation.status is EscalationStatus.OPEN and now > due_at,
        acknowledged_by=escalation.acknowledged_by,
        acknowledged_by_name=acknowledger or escalation.acknowledged_by,
        acknowledged_at=escalation.acknowledged_at,
        resolved_by=escalation.resolved_by,
        resolved_by_name=resolver or escalation.resolved_by,
        resolved_at=escalation.resolved_at,
        resolution_note=escalation.resolution_note,
        repeat_count=escalation.repeat_count or 0,
        updated_at=escalation.updated_at,
    )


def queue(
    *,
    session: Session,
    study: StudyConfig,
    now: datetime | None = None,
    limit: int = DEFAULT_QUEUE_LIMIT,
) -> list[QueueEntry]:
    """Unresolved escalations: open first, then acknowledged; by level, then oldest first."""
    now = now or utcnow()
    rows = session.execute(
        _entries_query()
        .where(Escalation.status.in_(list(STATUS_RANK)))
        .order_by(
            case(STATUS_RANK, value=Escalation.status),
            case(LEVEL_RANK, value=Escalation.level),
            Escalation.created_at,
            Escalation.id,
        )
        .limit(limit)
    ).all()
    return [_entry(row, study, now) for row in rows]


def queue_version(*, session: Session) -> tuple[object, ...]:
    """A cheap fingerprint of the queue (one aggregate row) that changes whenever the queue
    does: an escalation raised (count, highest ID), acknowledged (how many, latest time),
    repeated or superseded (repeats, latest update) or resolved (count)."""
    row = session.execute(
        select(
            func.count(),
            func.max(Escalation.id),
            func.count(Escalation.acknowledged_at),
            func.max(Escalation.acknowledged_at),
            func.coalesce(func.sum(Escalation.repeat_count), 0),
            func.max(Escalation.updated_at),
        ).where(Escalation.status.in_(list(STATUS_RANK)))
    ).one()
    return tuple(row)


def open_items_by_participant(
    *, session: Session, study: StudyConfig | None = None, now: datetime | None = None
) -> list[ParticipantItems]:
    """The queue grouped by participant: unresolved items, the most severe group first.

    Within a group: open before acknowledged, then by level, then oldest first. Groups:
    by their most severe open item's level (a group with nothing open after every group
    with something open), then by their oldest open item (longest waiting first).
    """
    study = study or current_study()
    return group_by_participant(
        queue(session=session, study=study, now=now, limit=DEFAULT_QUEUE_LIMIT * 5)
    )


def group_by_participant(entries: Iterable[QueueEntry]) -> list[ParticipantItems]:
    """Queue entries (in `queue` order) grouped as `open_items_by_participant` says."""
    grouped: dict[int, list[QueueEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.participant_id, []).append(entry)
    groups = [
        ParticipantItems(participant_id=pid, study_id=items[0].study_id, items=items)
        for pid, items in grouped.items()
    ]
    return sorted(groups, key=_group_order)


def _group_order(group: ParticipantItems) -> tuple[int, int, datetime, int]:
    """Sort key: something open first, most severe, longest waiting, then by participant."""
    first = group.items[0]  # `queue` order: open first, by level, oldest first
    return (
        STATUS_RANK[first.status],
        LEVEL_RANK[first.level],
        first.created_at,
        group.participant_id,
    )


def queue_entry(
    *, session: Session, study: StudyConfig, escalation_id: int, now: datetime | None = None
) -> QueueEntry | None:
    """One escalation, whatever its status, as a queue entry."""
    row = session.execute(_entries_query().where(Escalation.id == escalation_id)).first()
    return None if row is None else _entry(row, study, now or utcnow())


def participant_entries(
    *,
    session: Session,
    study: StudyConfig,
    participant_id: int,
    now: datetime | None = None,
    limit: int = DEFAULT_QUEUE_LIMIT,
) -> list[QueueEntry]:
    """A participant's escalations, whatever their status, newest first."""
    rows = session.execute(
        _entries_query()
        .where(Escalation.participant_id == participant_id)
        .order_by(Escalation.created_at.desc(), Escalation.id.desc())
        .limit(limit)
    ).all()
    now = now or utcnow()
    return [_entry(row, study, now) for row in rows]


def escalation_for_ack_code(*, session: Session, code: str) -> Escalation | None:
    """The escalation an `ACK <code>` reply names (any case, spaces ignored)."""
    return session.execute(
        select(Escalation).where(Escalation.ack_code == code.strip().upper())
    ).scalar_one_or_none()


def _require_actor(*, session: Session, actor: str) -> StaffUser:
    """The active staff user acting, or NotAllowed if they may not act on escalations."""
    user = get_user_by_username(session=session, username=actor)
    if user is None or not user.active:
        raise NotAllowed(f"{actor!r} is not an active staff user")
    if not allows(user.role, Permission.ACT_ON_ESCALATIONS):
        raise NotAllowed(f"a {user.role.value} cannot acknowledge or resolve escalations")
    return user


def _reload(*, session: Session, escalation_id: int) -> Escalation:
    """The escalation as the database has it now (after a conditional UPDATE)."""
    escalation = session.get(Escalation, escalation_id, populate_existing=True)
    if escalation is None:
        raise EscalationNotFound(f"no escalation {escalation_id}")
    return escalation


def _status_of(*, session: Session, escalation_id: int) -> EscalationStatus | None:
    """The escalation's status now (None: there is no such escalation)."""
    return session.execute(
        select(Escalation.status).where(Escalation.id == escalation_id)
    ).scalar_one_or_none()


def _status_change(
    before: EscalationStatus | None, after: EscalationStatus, *, changed: bool
) -> tuple[dict[str, object] | None, dict[str, object] | None]:
    """The old and new status for the audit event of a change (none if none was made)."""
    if not changed or before is None:
        return None, None
    return {"status": before.value}, {"status": after.value}


def acknowledge(
    *, session: Session, escalation_id: int, actor: str, via: str = "console"
) -> Outcome:
    """Acknowledge an open escalation as `actor` (a username); only the first call counts.

    Returns `changed=True` when this call acknowledged it, `False` when it was already
    acknowledged or resolved (`escalation.acknowledged_by` says by whom). `via` names the
    place it came from (console, telegram, sms) for the audit log. Raises NotAllowed and
    EscalationNotFound.
    """
    user = _require_actor(session=session, actor=actor)
    before = _status_of(session=session, escalation_id=escalation_id)
    result = session.execute(
        update(Escalation)
        .where(Escalation.id == escalation_id, Escalation.status == EscalationStatus.OPEN)
        .values(
            status=EscalationStatus.ACKNOWLEDGED,
            acknowledged_by=user.username,
            acknowledged_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    changed = result.rowcount == 1
    escalation = _reload(session=session, escalation_id=escalation_id)
    old, new = _status_change(before, escalation.status, changed=changed)
    detail = (
        f"acknowledged via {via}"
        if changed
        else f"already {escalation.status.value} by {escalation.acknowledged_by}; via {via}"
    )
    audit.record(
        session=session,
        actor=user.username,
        action=AuditAction.ESCALATION_ACKNOWLEDGED,
        participant_id=escalation.participant_id,
        escalation_id=escalation.id,
        detail=detail,
        old=old,
        new=new,
    )
    logger.info("escalation %s: acknowledge by %s via %s: %s", escalation_id, user.id, via, changed)
    return Outcome(changed=changed, escalation=escalation)


def resolve(
    *, session: Session, escalation_id: int, actor: str, note: str, via: str = "console"
) -> Outcome:
    """Resolve an escalation with a note; an open one is acknowledged by `actor` too.

    Returns `changed=False` when it was already resolved. Raises ValueError for an empty or
    over-long note, NotAllowed and EscalationNotFound.
    """
    note = note.strip()
    if not note:
        raise ValueError("write a short note on what was done")
    if len(note) > MAX_NOTE_LENGTH:
        raise ValueError(f"the note must be at most {MAX_NOTE_LENGTH} characters")
    user = _require_actor(session=session, actor=actor)
    before = _status_of(session=session, escalation_id=escalation_id)
    now = utcnow()
    result = session.execute(
        update(Escalation)
        .where(Escalation.id == escalation_id, Escalation.status != EscalationStatus.RESOLVED)
        .values(
            status=EscalationStatus.RESOLVED,
            resolved_by=user.username,
            resolved_at=now,
            resolution_note=note,
            acknowledged_by=func.coalesce(Escalation.acknowledged_by, user.username),
            acknowledged_at=func.coalesce(
                Escalation.acknowledged_at, literal(now, type_=UTCDateTime())
            ),
        )
        .execution_options(synchronize_session=False)
    )
    changed = result.rowcount == 1
    escalation = _reload(session=session, escalation_id=escalation_id)
    old, new = _status_change(before, escalation.status, changed=changed)
    audit.record(
        session=session,
        actor=user.username,
        action=AuditAction.ESCALATION_RESOLVED,
        participant_id=escalation.participant_id,
        escalation_id=escalation.id,
        detail=f"resolved via {via}" if changed else f"already resolved; via {via}",
        reason=note if changed else None,
        old=old,
        new=new,
    )
    logger.info("escalation %s: resolve by %s via %s: %s", escalation_id, user.id, via, changed)
    return Outcome(changed=changed, escalation=escalation)


def resolve_handoff_requests(
    *, session: Session, participant_id: int, actor: str, via: str, handoff_id: int
) -> list[int]:
    """Resolve the participant's unresolved requests to talk to a person: `actor` took the
    conversation over (bot.handoff.service). One audit event each; their IDs."""
    ids = list(
        session.execute(
            select(Escalation.id)
            .where(
                Escalation.participant_id == participant_id,
                Escalation.type == EscalationType.HANDOFF,
                Escalation.status != EscalationStatus.RESOLVED,
            )
            .order_by(Escalation.id)
        ).scalars()
    )
    note = f"conversation taken over by {actor} via {via} (handoff {handoff_id})"
    for escalation_id in ids:
        resolve(session=session, escalation_id=escalation_id, actor=actor, note=note, via=via)
    return ids


def acknowledge_many(
    *, session: Session, ids: Iterable[int], actor: str, via: str = "console"
) -> list[Outcome]:
    """Acknowledge several escalations as `actor`, each as `acknowledge` does (one audit
    event per item; only the first acknowledgement of each counts). IDs that name no
    escalation are skipped; NotAllowed when the actor may not act."""
    _require_actor(session=session, actor=actor)
    outcomes = []
    for escalation_id in sorted(set(ids)):
        try:
            outcomes.append(
                acknowledge(session=session, escalation_id=escalation_id, actor=actor, via=via)
            )
        except EscalationNotFound:
            logger.info("acknowledge many: no escalation %s", escalation_id)
    return outcomes
