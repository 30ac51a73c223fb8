"""The audit log: the one place audit events are written.

Every view of participant data and every staff action is recorded: who (a staff username,
or "system"), what, when, and which participant or escalation. The table is append-only
in the database too (triggers refuse UPDATE and DELETE; migration 0005). The event is
written in the caller's transaction, so an action and its audit record commit together.
Details are staff language: never the participant's words, phone numbers or passwords.
"""

from __future__ import annotations

import enum
import logging
import re

from sqlalchemy.orm import Session

from bot.db.models import AuditEvent

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
MAX_ACTOR_LENGTH = 128
MAX_DETAIL_LENGTH = 1000
ACTION_PATTERN = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)+")


class AuditAction(str, enum.Enum):
    """What happened; new kinds of events are added here."""

    SIGN_IN = "auth.sign_in"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    SIGN_IN_REFUSED = "auth.sign_in_refused"
    SIGN_OUT = "auth.sign_out"
    ACCESS_DENIED = "auth.access_denied"
    USER_CREATED = "user.create"
    QUEUE_VIEWED = "queue.view"
    ESCALATION_VIEWED = "escalation.view"
    ESCALATION_ACKNOWLEDGED = "escalation.acknowledge"
    ESCALATION_RESOLVED = "escalation.resolve"
    PARTICIPANTS_VIEWED = "participants.view"
    PARTICIPANT_ENROLLED = "participant.enroll"
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
) -> AuditEvent:
    """Append one audit event to the caller's transaction (flushed, not committed)."""
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
