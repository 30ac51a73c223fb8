"""Escalations about a message handled late say so (bot/escalation/records.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from bot.db.models import Channel, Direction, EscalationLevel, EscalationType
from bot.db.repository import ensure_web_participant, log_message
from bot.db.types import utcnow
from bot.escalation.records import raise_escalation

REASON = "red flag: chest pain"


def escalate_about(session: Session, *, ago: timedelta, awaiting: bool) -> str:
    """Raise an escalation about a message that arrived `ago`; its reason."""
    participant = ensure_web_participant(session=session, sender_id="web-late01")
    entry = log_message(
        session=session,
        sender_id=participant.sender_id,
        channel=Channel.SMS,
        direction=Direction.INBOUND,
        text="i have crushing chest pain",
        participant_id=participant.id,
        awaiting=awaiting,
    )
    entry.created_at = utcnow() - ago
    session.flush()
    return raise_escalation(
        session=session,
        participant_id=participant.id,
        level=EscalationLevel.EMERGENCY,
        type=EscalationType.EMERGENCY,
        reason=REASON,
        message_log_id=entry.id,
    ).reason


def test_a_message_handled_minutes_after_it_arrived_says_so_first(session: Session) -> None:
    reason = escalate_about(session, ago=timedelta(minutes=7, seconds=20), awaiting=True)

    assert reason == (
        "handled 7 min after it arrived (the assistant was down or delayed); " + REASON
    )


@pytest.mark.parametrize(
    ("ago", "awaiting"),
    [
        (timedelta(seconds=5), True),  # handled as it came in
        (timedelta(minutes=30), False),  # handled long ago: an escalation about it later
    ],
)
def test_other_escalations_keep_their_reason(
    session: Session, ago: timedelta, awaiting: bool
) -> None:
    assert escalate_about(session, ago=ago, awaiting=awaiting) == REASON


def test_an_escalation_without_a_message_keeps_its_reason(session: Session) -> None:
    participant = ensure_web_participant(session=session, sender_id="web-late02")

    escalation = raise_escalation(
        session=session,
        participant_id=participant.id,
        level=EscalationLevel.ROUTINE,
        type=EscalationType.OTHER,
        reason="missed three check-ins in a row",
    )

    assert escalation.reason == "missed three check-ins in a row"
