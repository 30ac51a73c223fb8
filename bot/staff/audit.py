"""The audit log: the one place audit events are written.

Every view of participant data and every staff action is recorded: who (a staff username,
or "system"), what, when, and which participant or escalation. The table is append-only
in the database too (triggers refuse UPDATE and DELETE; migration 0005). The event is
written in the caller's transaction, so an action and its audit record commit together.
Details are staff language: never the participant's words, phone numbers or passwords.
A change records the old and new value of each field and the reason given, in the detail:
`status: active -> withdrawn; reason: asked to stop by phone`.

Admins read it through `find_events` / `all_events` (the console's audit viewer and its
CSV export), filtered by who, what, when and participant (`AuditFilter`).
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.db.models import AuditEvent, Participant

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
MAX_ACTOR_LENGTH = 128
MAX_DETAIL_LENGTH = 1000
MAX_REASON_LENGTH = 500
ACTION_PATTERN = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)+")


class AuditAction(str, enum.Enum):
    """What happened; new kinds of events are added here."""

    SIGN_IN = "auth.sign_in"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    SIGN_IN_REFUSED = "auth.sign_in_refused"
    SIGN_OUT = "auth.sign_out"
    ACCESS_DENIED = "auth.access_denied"
    PASSWORD_CHANGED = "auth.password_change"  # noqa: S105 (an action name)
    PASSWORD_CHANGE_FAILED = "auth.password_change_failed"  # noqa: S105
    USER_CREATED = "user.create"
    PASSWORD_RESET = "user.password_reset"  # noqa: S105
    USER_DEACTIVATED = "user.deactivate"
    USER_REACTIVATED = "user.reactivate"
    USER_SETTINGS_CHANGED = "user.settings"
    USER_ADDRESSES_CHANGED = "user.alert_addresses"
    ADDRESS_CHECK_SENT = "user.address_check_send"
    ADDRESS_CHECK_SEND_FAILED = "user.address_check_send_failed"
    ADDRESS_VERIFIED = "user.address_verify"
    ADDRESS_CHECK_FAILED = "user.address_verify_failed"
    AUDIT_VIEWED = "audit.view"
    AUDIT_EXPORTED = "audit.export"
    QUEUE_VIEWED = "queue.view"
    ESCALATION_VIEWED = "escalation.view"
    ESCALATION_ACKNOWLEDGED = "escalation.acknowledge"
    ESCALATION_RESOLVED = "escalation.resolve"
    PARTICIPANTS_VIEWED = "participants.view"
    PARTICIPANT_ENROLLED = "participant.enroll"
    PARTICIPANT_CHANGED = "participant.change"
    PHONE_REVEALED = "participant.phone_reveal"
    FIGURES_VIEWED = "figures.view"
    PARTICIPANT_FIGURES_VIEWED = "figures.view_participant"
    DATA_EXPORTED = "data.export"
    REPORT_WRITTEN = "report.write"
    DEMO_DATA_SEEDED = "demo.seed"
    CONVERSATIONS_VIEWED = "review.conversations_view"
    TRANSCRIPT_VIEWED = "review.transcript_view"
    NLU_QUEUE_VIEWED = "nlu.queue_view"
    NLU_LABELLED = "nlu.label"
    NLU_EXPORTED = "nlu.export"
    LEDGER_VIEWED = "ledger.view"
    LEDGER_PAID = "ledger.mark_paid"
    VISITS_VIEWED = "visits.view"
    VISIT_RECORDED = "visits.record"


def record(
    *,
    session: Session,
    actor: str,
    action: AuditAction | str,
    participant_id: int | None = None,
    escalation_id: int | None = None,
    detail: str = "",
    old: Mapping[str, object] | None = None,
    new: Mapping[str, object] | None = None,
    reason: str | None = None,
) -> AuditEvent:
    """Append one audit event to the caller's transaction (flushed, not committed).

    `old` and `new` are the values of what changed, by field name (staff language: never
    a phone number or the participant's words), and `reason` the reason the actor gave;
    they are written into the detail after any `detail` given.
    """
    detail = change_detail(detail, old=old or {}, new=new or {}, reason=reason)
    action_name = action.value if isinstance(action, AuditAction) else action
    if not ACTION_PATTERN.fullmatch(action_name):
        raise ValueError(f"audit action {action_name!r} must look like 'area.verb'")
    actor = actor.strip()[:MAX_ACTOR_LENGTH]
    if not actor:
        raise ValueError("an audit event needs an actor (a username or 'system')")
    event = AuditEvent(
        actor=actor,
        action=action_name,
        participant_id=participant_id,
        escalation_id=escalation_id,
        detail=detail[:MAX_DETAIL_LENGTH],
    )
    session.add(event)
    session.flush()
    logger.debug(
        "audit %s: %s by %s (participant %s, escalation %s)",
        event.id,
        action_name,
        actor,
        participant_id,
        escalation_id,
    )
    return event


def _shown(value: object) -> str:
    """A value as the audit detail shows it ("none" for None)."""
    if value is None or value == "":
        return "none"
    if isinstance(value, enum.Enum):
        return str(value.value)
    return " ".join(str(value).split())


def change_detail(
    detail: str, *, old: Mapping[str, object], new: Mapping[str, object], reason: str | None
) -> str:
    """The detail with each changed field (`field: old -> new`) and the reason appended."""
    parts = [detail] if detail else []
    for field in dict.fromkeys([*old, *new]):
        parts.append(f"{field}: {_shown(old.get(field))} -> {_shown(new.get(field))}")
    if reason is not None and reason.strip():
        parts.append(f"reason: {' '.join(reason.split())[:MAX_REASON_LENGTH]}")
    return "; ".join(parts)


@dataclass(frozen=True)
class AuditFilter:
    """Which audit events to read: by actor (username), action ("user.deactivate", or a
    whole area: "user"), time (from `since`, before `until`) and participant."""

    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    participant_id: int | None = None


@dataclass(frozen=True)
class AuditRow:
    """One audit event as the viewer shows it, with the participant's study ID."""

    id: int
    at: datetime
    actor: str
    action: str
    study_id: str | None
    escalation_id: int | None
    detail: str


def _filtered(query: Select, filters: AuditFilter) -> Select:
    """The query limited to the events the filter names."""
    if filters.actor:
        query = query.where(AuditEvent.actor == filters.actor.strip().lower())
    if filters.action:
        action = filters.action.strip()
        if "." in action:
            query = query.where(AuditEvent.action == action)
        else:
            query = query.where(AuditEvent.action.startswith(action + ".", autoescape=True))
    if filters.since is not None:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.at < filters.until)
    if filters.participant_id is not None:
        query = query.where(AuditEvent.participant_id == filters.participant_id)
    return query


def _rows_query(filters: AuditFilter) -> Select:
    """Events with their participant's study ID (an outer join: no foreign keys here)."""
    query = select(AuditEvent, Participant.study_id).outerjoin(
        Participant, Participant.id == AuditEvent.participant_id
    )
    return _filtered(query, filters)


def _row(event: AuditEvent, study_id: str | None) -> AuditRow:
    return AuditRow(
        id=event.id,
        at=event.at,
        actor=event.actor,
        action=event.action,
        study_id=study_id,
        escalation_id=event.escalation_id,
        detail=event.detail,
    )


def count_events(*, session: Session, filters: AuditFilter) -> int:
    """How many events the filter matches."""
    query = _filtered(select(func.count(AuditEvent.id)), filters)
    return int(session.execute(query).scalar_one())


def find_events(
    *, session: Session, filters: AuditFilter, limit: int, offset: int = 0
) -> list[AuditRow]:
    """One page of matching events, newest first."""
    query = _rows_query(filters).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    return [_row(event, study_id) for event, study_id in session.execute(query).all()]


def all_events(
    *, session: Session, filters: AuditFilter, batch_size: int = 500
) -> Iterator[AuditRow]:
    """Every matching event, oldest first, read in batches (for an export of any size)."""
    after = 0
    while True:
        query = (
            _rows_query(filters)
            .where(AuditEvent.id > after)
            .order_by(AuditEvent.id)
            .limit(batch_size)
        )
        rows = session.execute(query).all()
        for event, study_id in rows:
            yield _row(event, study_id)
        if len(rows) < batch_size:
            return
        after = rows[-1][0].id


def actions_in_use(*, session: Session) -> list[str]:
    """Every action name the log holds, for the viewer's filter."""
    query = select(AuditEvent.action).distinct().order_by(AuditEvent.action)
    return list(session.execute(query).scalars())
