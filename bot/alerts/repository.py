"""The alert deliveries table: planning rounds, claiming sends, recording each attempt.

Everything the alert worker knows is here, so a restarted worker picks up where the last
one stopped: a round is planned once (unique key), a send is claimed with a conditional
UPDATE (pending, failed and due, or a stale claim -> sending) and its result recorded on
the row. A claim is a lease: while a row is 'sending', `next_attempt_at` is when the claim
expires; a row still 'sending' after that was left by a worker that stopped mid-send, and
is sent again (an alert may then arrive twice, never zero times).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Exists

from bot.alerts.planning import QUEUE_RECIPIENT, RE_ESCALATED_LEVELS, Target, for_participant
from bot.db.models import (
    AlertChannel,
    AlertDelivery,
    AlertKind,
    AlertStatus,
    Escalation,
    EscalationLevel,
    EscalationStatus,
    Participant,
    StaffUser,
)

# At most this many results are kept in a row's attempt log.
MAX_LOGGED_ATTEMPTS = 20


@dataclass(frozen=True)
class RoundState:
    """An open escalation that is re-escalated, and the last round planned for it."""

    escalation_id: int
    level: EscalationLevel
    created_at: datetime
    last_round: int


@dataclass(frozen=True)
class SendJob:
    """A claimed delivery and what is needed to send it."""

    delivery_id: int
    escalation_id: int
    kind: AlertKind
    round: int
    channel: AlertChannel
    recipient: str
    staff_user_id: int | None
    attempts: int
    # The claim of a worker that stopped mid-send had expired: it may have gone out.
    interrupted: bool = False


def _has_rows(kind: AlertKind) -> Exists:
    """A correlated EXISTS: the escalation has delivery rows of this kind."""
    return exists().where(AlertDelivery.escalation_id == Escalation.id, AlertDelivery.kind == kind)


def unplanned_escalation_ids(*, session: Session, since: datetime) -> list[int]:
    """Open escalations raised since `since` whose alert has not been planned yet."""
    rows = session.execute(
        select(Escalation.id)
        .where(
            Escalation.status == EscalationStatus.OPEN,
            Escalation.created_at >= since,
            ~_has_rows(AlertKind.ALERT),
        )
        .order_by(Escalation.id)
    ).scalars()
    return list(rows)


def re_escalation_candidates(*, session: Session, since: datetime) -> list[RoundState]:
    """Open emergency and urgent escalations with a planned alert, and their last round."""
    last_round = func.max(AlertDelivery.round)
    rows = session.execute(
        select(Escalation.id, Escalation.level, Escalation.created_at, last_round)
        .join(AlertDelivery, AlertDelivery.escalation_id == Escalation.id)
        .where(
            Escalation.status == EscalationStatus.OPEN,
            Escalation.level.in_(list(RE_ESCALATED_LEVELS)),
            Escalation.created_at >= since,
            AlertDelivery.kind == AlertKind.ALERT,
        )
        .group_by(Escalation.id, Escalation.level, Escalation.created_at)
    ).all()
    return [RoundState(row[0], row[1], row[2], int(row[3])) for row in rows]


def settled_escalations_to_notify(*, session: Session, since: datetime) -> list[int]:
    """Acknowledged or resolved escalations whose alert went out (none still being sent)
    and whose notice is not planned yet."""
    sent_alert = exists().where(
        AlertDelivery.escalation_id == Escalation.id,
        AlertDelivery.kind == AlertKind.ALERT,
        AlertDelivery.status == AlertStatus.SENT,
        AlertDelivery.channel != AlertChannel.CONSOLE,
    )
    in_flight = exists().where(
        AlertDelivery.escalation_id == Escalation.id,
        AlertDelivery.status == AlertStatus.SENDING,
    )
    rows = session.execute(
        select(Escalation.id)
        .where(
            Escalation.status != EscalationStatus.OPEN,
            Escalation.acknowledged_at >= since,
            sent_alert,
            ~in_flight,
            ~_has_rows(AlertKind.ACK_NOTICE),
        )
        .order_by(Escalation.id)
    ).scalars()
    return list(rows)


def notice_targets(*, session: Session, escalation_id: int) -> list[Target]:
    """Everyone the alert reached, except the person who acknowledged it."""
    escalation = session.get(Escalation, escalation_id)
    if escalation is None:
        return []
    rows = session.execute(
        select(AlertDelivery.channel, AlertDelivery.recipient, AlertDelivery.staff_user_id)
        .outerjoin(StaffUser, StaffUser.id == AlertDelivery.staff_user_id)
        .where(
            AlertDelivery.escalation_id == escalation_id,
            AlertDelivery.kind == AlertKind.ALERT,
            AlertDelivery.status == AlertStatus.SENT,
            AlertDelivery.channel != AlertChannel.CONSOLE,
            (StaffUser.username.is_(None))
            | (StaffUser.username != (escalation.acknowledged_by or "")),
        )
        .distinct()
    ).all()
    return sorted(
        {Target(row[0], row[1], row[2]) for row in rows},
        key=lambda target: (target.channel.value, target.recipient),
    )


def _is_test_traffic(session: Session, escalation_id: int) -> bool:
    """True when the escalation is about a participant marked as test traffic."""
    is_test = session.execute(
        select(Participant.is_test)
        .join(Escalation, Escalation.participant_id == Participant.id)
        .where(Escalation.id == escalation_id)
    ).scalar_one_or_none()
    return bool(is_test)


def insert_plan(
    *,
    session: Session,
    escalation_id: int,
    kind: AlertKind,
    round_number: int,
    targets: Sequence[Target],
    now: datetime,
) -> bool:
    """Store a round's deliveries (console rows as sent); False if it was planned already.

    An escalation of test traffic keeps its console rows only (planning.for_participant).
    """
    targets = for_participant(targets, is_test=_is_test_traffic(session, escalation_id))
    try:
        with session.begin_nested():
            for target in targets:
                console = target.channel is AlertChannel.CONSOLE
                session.add(
                    AlertDelivery(
                        escalation_id=escalation_id,
                        kind=kind,
                        round=round_number,
                        channel=target.channel,
                        recipient=target.recipient,
                        staff_user_id=target.staff_user_id,
                        status=AlertStatus.SENT if console else AlertStatus.PENDING,
                        attempts=0,
                        created_at=now,
                        sent_at=now if console else None,
                    )
                )
            session.flush()
    except IntegrityError:
        return False
    return True


def cancel_settled(*, session: Session) -> int:
    """Stop alerts still waiting to be sent for escalations someone already has."""
    settled = select(Escalation.id).where(Escalation.status != EscalationStatus.OPEN)
    result = session.execute(
        update(AlertDelivery)
        .where(
            AlertDelivery.kind == AlertKind.ALERT,
            AlertDelivery.status.in_([AlertStatus.PENDING, AlertStatus.FAILED]),
            AlertDelivery.escalation_id.in_(settled.scalar_subquery()),
        )
        .values(status=AlertStatus.CANCELLED, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def _due(now: datetime) -> ColumnElement:
    """New deliveries, failed ones whose retry time has come, and expired claims."""
    return (AlertDelivery.status == AlertStatus.PENDING) | (
        AlertDelivery.status.in_([AlertStatus.FAILED, AlertStatus.SENDING])
        & (AlertDelivery.next_attempt_at <= now)
    )


def due_delivery_ids(*, session: Session, now: datetime, limit: int = 100) -> list[int]:
    """Deliveries to send now (see `_due`), oldest first."""
    rows = session.execute(
        select(AlertDelivery.id).where(_due(now)).order_by(AlertDelivery.id).limit(limit)
    ).scalars()
    return list(rows)


def claim(*, session: Session, delivery_id: int, now: datetime, lease: timedelta) -> SendJob | None:
    """Take a due delivery to send it, until `now + lease` (None: not due, or taken)."""
    before = session.execute(
        select(AlertDelivery.status).where(AlertDelivery.id == delivery_id)
    ).scalar_one_or_none()
    result = session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id == delivery_id, _due(now))
        .values(status=AlertStatus.SENDING, next_attempt_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    row = session.get(AlertDelivery, delivery_id, populate_existing=True)
    if row is None:
        return None
    return SendJob(
        delivery_id=row.id,
        escalation_id=row.escalation_id,
        kind=row.kind,
        round=row.round,
        channel=row.channel,
        recipient=row.recipient,
        staff_user_id=row.staff_user_id,
        attempts=row.attempts,
        interrupted=before is AlertStatus.SENDING,
    )


def record_result(
    *,
    session: Session,
    delivery_id: int,
    status: AlertStatus,
    attempts: int,
    results: Sequence[dict[str, str]],
    now: datetime,
    external_id: str | None = None,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    """Store how a claimed send went, with every attempt's result."""
    row = session.get(AlertDelivery, delivery_id)
    if row is None:
        return
    row.status = status
    row.attempts = attempts
    row.error = error
    row.next_attempt_at = next_attempt_at
    row.attempt_log = [*(row.attempt_log or []), *results][-MAX_LOGGED_ATTEMPTS:]
    if external_id is not None:
        row.external_id = external_id
    if status is AlertStatus.SENT:
        row.sent_at = now


def deliveries_for(*, session: Session, escalation_id: int) -> list[AlertDelivery]:
    """An escalation's deliveries, by round, kind and channel (for the console)."""
    rows = session.execute(
        select(AlertDelivery)
        .where(AlertDelivery.escalation_id == escalation_id)
        .order_by(AlertDelivery.kind, AlertDelivery.round, AlertDelivery.id)
    ).scalars()
    return list(rows)


def unpaged_rounds(deliveries: Sequence[AlertDelivery]) -> set[int]:
    """The alert rounds of these deliveries that went to nobody but the console queue."""
    alerts = [row for row in deliveries if row.kind is AlertKind.ALERT]
    planned = {row.round for row in alerts}
    paged = {row.round for row in alerts if row.recipient != QUEUE_RECIPIENT}
    return planned - paged


def undelivered_escalation_ids(*, session: Session, escalation_ids: Sequence[int]) -> set[int]:
    """Which of these escalations have an alert that could not be delivered."""
    if not escalation_ids:
        return set()
    rows = session.execute(
        select(AlertDelivery.escalation_id)
        .where(
            AlertDelivery.escalation_id.in_(list(escalation_ids)),
            AlertDelivery.kind == AlertKind.ALERT,
            AlertDelivery.status == AlertStatus.UNDELIVERED,
        )
        .distinct()
    ).scalars()
    return set(rows)


def delivery_by_external_id(
    *, session: Session, channel: AlertChannel, external_id: str
) -> AlertDelivery | None:
    """The alert a channel's message ID belongs to (a Telegram reply to an alert)."""
    return session.execute(
        select(AlertDelivery)
        .where(AlertDelivery.channel == channel, AlertDelivery.external_id == external_id)
        .order_by(AlertDelivery.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def escalation_with_study_id(
    *, session: Session, escalation_id: int
) -> tuple[Escalation, str] | None:
    """An escalation and its participant's study ID."""
    row = session.execute(
        select(Escalation, Participant.study_id)
        .join(Participant, Participant.id == Escalation.participant_id)
        .where(Escalation.id == escalation_id)
    ).first()
    return None if row is None else (row[0], row[1])
