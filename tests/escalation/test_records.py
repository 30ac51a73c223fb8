"""Creating escalations (bot/escalation/records.py): a message handled late says so, and a
repeated concern updates its open item instead of adding rows (emergencies never)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import (
    AuditEvent,
    Channel,
    Direction,
    Escalation,
    EscalationLevel,
    EscalationStatus,
    EscalationType,
)
from bot.db.repository import ensure_web_participant, log_message
from bot.db.session import get_engine
from bot.db.types import utcnow
from bot.escalation.records import raise_escalation, raise_or_merge

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


# --- one open item per participant and concern ----------------------------------------


def inbound(session: Session, sender_id: str, text: str) -> int:
    participant = ensure_web_participant(session=session, sender_id=sender_id)
    return log_message(
        session=session,
        sender_id=sender_id,
        channel=Channel.WEB,
        direction=Direction.INBOUND,
        text=text,
        participant_id=participant.id,
    ).id


def raise_about(
    session: Session,
    type: EscalationType,
    reason: str,
    *,
    level: EscalationLevel = EscalationLevel.ROUTINE,
    sender_id: str = "web-merge01",
    concern: str | None = None,
    trigger: str | None = None,
) -> Escalation:
    participant = ensure_web_participant(session=session, sender_id=sender_id)
    return raise_escalation(
        session=session,
        participant_id=participant.id,
        level=level,
        type=type,
        reason=reason,
        message_log_id=inbound(session, sender_id, "some words"),
        trigger_message_id=trigger,
        concern=concern,
    )


def rows(session: Session) -> int:
    return int(session.execute(select(func.count(Escalation.id))).scalar_one())


def test_a_repeated_withdrawal_updates_the_open_item(session: Session) -> None:
    first = raise_about(session, EscalationType.WITHDRAWAL, "said they want to leave the study")
    created, message = first.created_at, first.message_log_id

    again = raise_about(
        session, EscalationType.WITHDRAWAL, "wants to leave the study and asked for a call"
    )

    assert again.id == first.id and rows(session) == 1
    assert again.repeat_count == 1 and again.updated_at is not None
    assert (again.created_at, again.message_log_id) == (created, message)  # the first trigger
    assert again.reason == (
        f"said they want to leave the study; again (message {message + 1}): "
        "wants to leave the study and asked for a call"
    )
    assert again.status is EscalationStatus.OPEN


def test_an_acknowledged_item_is_updated_and_stays_with_whoever_has_it(session: Session) -> None:
    first = raise_about(session, EscalationType.HANDOFF, "asked to talk to a person")
    first.status, first.acknowledged_by = EscalationStatus.ACKNOWLEDGED, "joy"

    again = raise_about(session, EscalationType.HANDOFF, "asked to talk to a person")

    assert again.id == first.id and again.repeat_count == 1
    assert (again.status, again.acknowledged_by) == (EscalationStatus.ACKNOWLEDGED, "joy")


def test_after_it_is_resolved_the_concern_gets_a_new_item(session: Session) -> None:
    first = raise_about(session, EscalationType.WITHDRAWAL, "said they want to leave the study")
    first.status = EscalationStatus.RESOLVED

    again = raise_about(session, EscalationType.WITHDRAWAL, "said they want to leave the study")

    assert again.id != first.id and rows(session) == 2


def test_the_same_symptom_is_merged_and_another_symptom_is_not(session: Session) -> None:
    cough = raise_about(session, EscalationType.SYMPTOM, "cough: grade 2", concern="cough")
    again = raise_about(session, EscalationType.SYMPTOM, "cough: grade 2", concern="cough")
    nausea = raise_about(session, EscalationType.SYMPTOM, "nausea: grade 2", concern="nausea")
    unknown = raise_about(session, EscalationType.SYMPTOM, "pain: answer did not fit")
    unknown_again = raise_about(session, EscalationType.SYMPTOM, "pain: answer did not fit")

    assert again.id == cough.id
    assert len({cough.id, nausea.id, unknown.id, unknown_again.id}) == 4  # no key: no merge
    assert cough.concern == "cough"


def test_other_participants_and_other_types_are_never_merged(session: Session) -> None:
    mine = raise_about(session, EscalationType.WITHDRAWAL, "said they want to leave the study")
    theirs = raise_about(
        session, EscalationType.WITHDRAWAL, "said they want to leave", sender_id="web-merge02"
    )
    question = raise_about(session, EscalationType.QUESTION, "check-in: has a question")
    question_again = raise_about(session, EscalationType.QUESTION, "check-in: has a question")

    assert len({mine.id, theirs.id, question.id, question_again.id}) == 4


def test_a_more_severe_repeat_is_a_new_item_and_the_older_one_is_superseded(
    session: Session,
) -> None:
    routine = raise_about(session, EscalationType.SYMPTOM, "cough: grade 2", concern="cough")

    raised = raise_or_merge(
        session=session,
        participant_id=routine.participant_id,
        level=EscalationLevel.URGENT,
        type=EscalationType.SYMPTOM,
        reason="cough: grade 3 (severe)",
        concern="cough",
    )

    urgent = raised.escalation
    assert not raised.merged and raised.superseded is routine
    assert urgent.id != routine.id and urgent.level is EscalationLevel.URGENT
    assert routine.status is EscalationStatus.RESOLVED
    assert (routine.resolved_by, routine.resolution_note) == (
        "system",
        f"superseded by escalation {urgent.id} (urgent)",
    )
    [event] = session.execute(
        select(AuditEvent).where(AuditEvent.escalation_id == routine.id)
    ).scalars()
    assert (event.actor, event.action) == ("system", "escalation.resolve")
    # A milder repeat afterwards joins the urgent item.
    milder = raise_about(session, EscalationType.SYMPTOM, "cough: grade 2", concern="cough")
    assert milder.id == urgent.id and milder.level is EscalationLevel.URGENT


def test_every_emergency_message_gets_its_own_item(session: Session) -> None:
    first = raise_about(
        session,
        EscalationType.EMERGENCY,
        "red flag: chest pain",
        level=EscalationLevel.EMERGENCY,
        trigger="m-1",
    )
    second = raise_about(
        session,
        EscalationType.EMERGENCY,
        "red flag: chest pain",
        level=EscalationLevel.EMERGENCY,
        trigger="m-2",
    )

    assert first.id != second.id and rows(session) == 2
    assert first.repeat_count == second.repeat_count == 0


def test_two_processes_raising_the_same_concern_at_once_make_one_item(
    session: Session, database_url: str
) -> None:
    """The first raise is not committed yet when the second comes: the second waits for
    it (the participant's row is locked) and then updates its item."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite writes one transaction at a time; PostgreSQL is where this races")
    participant_id = ensure_web_participant(session=session, sender_id="web-race01").id
    session.commit()
    factory = sessionmaker(bind=get_engine(database_url), future=True, expire_on_commit=False)
    first, second = factory(), factory()
    started = threading.Event()

    def raise_withdrawal(own: Session) -> bool:
        return raise_or_merge(
            session=own,
            participant_id=participant_id,
            level=EscalationLevel.ROUTINE,
            type=EscalationType.WITHDRAWAL,
            reason="wants to leave the study",
        ).merged

    def the_second() -> bool:
        started.set()
        merged = raise_withdrawal(second)
        second.commit()
        return merged

    try:
        first_merged = raise_withdrawal(first)
        with ThreadPoolExecutor(max_workers=1) as pool:
            later = pool.submit(the_second)
            started.wait()
            time.sleep(0.3)
            assert not later.done()  # waits for the first's transaction
            first.commit()
            second_merged = later.result(timeout=20)
    finally:
        first.close()
        second.close()

    assert (first_merged, second_merged) == (False, True)
    session.expire_all()
    [item] = session.execute(select(Escalation)).scalars()
    assert item.repeat_count == 1
