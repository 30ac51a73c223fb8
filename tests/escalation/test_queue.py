"""The escalation queue: order, age and targets; acknowledging once, even at the same moment."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import (
    AuditEvent,
    Escalation,
    EscalationLevel,
    EscalationStatus,
    EscalationType,
    StaffRole,
)
from bot.db.session import get_engine
from bot.db.types import utcnow
from bot.escalation.queue import (
    EscalationNotFound,
    acknowledge,
    acknowledge_many,
    escalation_for_ack_code,
    open_items_by_participant,
    queue,
    queue_entry,
    resolve,
    resolve_handoff_requests,
    response_target,
)
from bot.escalation.records import ACK_CODE_ALPHABET, ACK_CODE_LENGTH, raise_escalation
from bot.staff.permissions import NotAllowed
from bot.study.config import StudyConfig, current_study
from tests.staff.factories import add_escalation, add_participant, add_user

LEVELS = EscalationLevel


@pytest.fixture
def study() -> StudyConfig:
    """The example study (targets: emergency 5 min, urgent 15 min, routine 1440 min)."""
    return current_study()


def test_open_first_then_by_level_then_oldest_first(session: Session, study: StudyConfig) -> None:
    add_user(session, "joy")
    participant = add_participant(session)
    now = utcnow()

    def at(minutes_ago: int) -> object:
        return now - timedelta(minutes=minutes_ago)

    routine_old = add_escalation(session, participant, LEVELS.ROUTINE, created_at=at(90))
    urgent_new = add_escalation(session, participant, LEVELS.URGENT, created_at=at(5))
    emergency = add_escalation(session, participant, LEVELS.EMERGENCY, created_at=at(1))
    urgent_old = add_escalation(session, participant, LEVELS.URGENT, created_at=at(30))
    acknowledged = add_escalation(
        session,
        participant,
        LEVELS.EMERGENCY,
        created_at=at(120),
        status=EscalationStatus.ACKNOWLEDGED,
        acknowledged_by="joy",
    )
    add_escalation(session, participant, LEVELS.EMERGENCY, status=EscalationStatus.RESOLVED)

    entries = queue(session=session, study=study, now=now)

    assert [entry.escalation_id for entry in entries] == [
        emergency.id,
        urgent_old.id,
        urgent_new.id,
        routine_old.id,
        acknowledged.id,
    ]
    assert entries[-1].acknowledged_by_name == "Nurse Joy"
    assert entries[0].study_id == "P-001"


def test_age_target_and_overdue(session: Session, study: StudyConfig) -> None:
    participant = add_participant(session)
    now = utcnow()
    late = add_escalation(
        session, participant, LEVELS.URGENT, created_at=now - timedelta(minutes=20)
    )
    in_time = add_escalation(
        session, participant, LEVELS.ROUTINE, created_at=now - timedelta(minutes=20)
    )
    taken = add_escalation(
        session,
        participant,
        LEVELS.EMERGENCY,
        created_at=now - timedelta(hours=2),
        status=EscalationStatus.ACKNOWLEDGED,
        acknowledged_by="joy",
    )

    entries = {entry.escalation_id: entry for entry in queue(session=session, study=study, now=now)}

    assert entries[late.id].age == timedelta(minutes=20)
    assert entries[late.id].target == timedelta(minutes=15) == response_target(study, LEVELS.URGENT)
    assert entries[late.id].due_at == late.created_at + timedelta(minutes=15)
    assert entries[late.id].overdue
    assert entries[in_time.id].target == timedelta(minutes=1440)
    assert not entries[in_time.id].overdue
    # Acknowledged in time or not, it is no longer waiting for a first response.
    assert not entries[taken.id].overdue
    # Unknown staff names fall back to the username.
    assert entries[taken.id].acknowledged_by_name == "joy"


def test_every_escalation_gets_a_short_unique_ack_code(session: Session) -> None:
    participant = add_participant(session)
    escalations = [add_escalation(session, participant) for _ in range(30)]

    codes = {escalation.ack_code for escalation in escalations}
    assert len(codes) == 30
    assert all(
        len(code) == ACK_CODE_LENGTH and set(code) <= set(ACK_CODE_ALPHABET) for code in codes
    )
    found = escalation_for_ack_code(session=session, code=f" {escalations[3].ack_code.lower()} ")
    assert found is not None and found.id == escalations[3].id
    assert escalation_for_ack_code(session=session, code="NOPE") is None


def test_acknowledge_counts_once(session: Session) -> None:
    add_user(session, "joy")
    add_user(session, "sam")
    participant = add_participant(session)
    escalation = add_escalation(session, participant)

    first = acknowledge(session=session, escalation_id=escalation.id, actor="joy")
    session.commit()
    second = acknowledge(session=session, escalation_id=escalation.id, actor="sam", via="sms")
    session.commit()

    assert first.changed and not second.changed
    assert second.escalation.status is EscalationStatus.ACKNOWLEDGED
    assert second.escalation.acknowledged_by == "joy"
    events = session.execute(
        select(
            AuditEvent.actor, AuditEvent.escalation_id, AuditEvent.participant_id, AuditEvent.detail
        )
        .where(AuditEvent.action == "escalation.acknowledge")
        .order_by(AuditEvent.id)
    ).all()
    assert [(actor, esc, part) for actor, esc, part, _ in events] == [
        ("joy", escalation.id, participant.id),
        ("sam", escalation.id, participant.id),
    ]
    assert "already acknowledged by joy" in events[1][3]


def test_only_staff_and_admins_can_act(session: Session) -> None:
    add_user(session, "rita", StaffRole.RESEARCHER)
    retired = add_user(session, "old", StaffRole.STAFF)
    retired.active = False
    session.commit()
    escalation = add_escalation(session, add_participant(session))

    for actor in ("rita", "old", "nobody"):
        with pytest.raises(NotAllowed):
            acknowledge(session=session, escalation_id=escalation.id, actor=actor)
        with pytest.raises(NotAllowed):
            resolve(session=session, escalation_id=escalation.id, actor=actor, note="done")
    session.rollback()

    assert session.get(Escalation, escalation.id, populate_existing=True).status is (
        EscalationStatus.OPEN
    )


def test_unknown_escalation(session: Session) -> None:
    add_user(session, "joy")
    with pytest.raises(EscalationNotFound):
        acknowledge(session=session, escalation_id=999_999, actor="joy")


def test_resolve_with_a_note_also_acknowledges(session: Session, study: StudyConfig) -> None:
    add_user(session, "joy")
    add_user(session, "sam")
    escalation = add_escalation(session, add_participant(session))

    with pytest.raises(ValueError, match="note"):
        resolve(session=session, escalation_id=escalation.id, actor="joy", note="   ")
    done = resolve(
        session=session, escalation_id=escalation.id, actor="joy", note="Called her; she is fine."
    )
    session.commit()
    again = resolve(session=session, escalation_id=escalation.id, actor="sam", note="Me too.")
    session.commit()

    assert done.changed and not again.changed
    resolved = done.escalation
    assert resolved.status is EscalationStatus.RESOLVED
    assert (resolved.resolved_by, resolved.resolution_note) == ("joy", "Called her; she is fine.")
    assert resolved.acknowledged_by == "joy" and resolved.acknowledged_at is not None
    assert queue(session=session, study=study) == []
    entry = queue_entry(session=session, study=study, escalation_id=escalation.id)
    assert entry is not None and entry.status is EscalationStatus.RESOLVED


def test_each_change_of_status_is_audited_with_old_and_new_value_and_the_reason(
    session: Session,
) -> None:
    add_user(session, "joy")
    add_user(session, "sam")
    escalation = add_escalation(session, add_participant(session))

    acknowledge(session=session, escalation_id=escalation.id, actor="joy")
    acknowledge(session=session, escalation_id=escalation.id, actor="sam")
    resolve(session=session, escalation_id=escalation.id, actor="sam", note="Called her back.")
    session.commit()

    events = session.execute(
        select(AuditEvent.actor, AuditEvent.detail)
        .where(AuditEvent.escalation_id == escalation.id)
        .order_by(AuditEvent.id)
    ).all()
    assert events == [
        ("joy", "acknowledged via console; status: open -> acknowledged"),
        ("sam", "already acknowledged by joy; via console"),
        (
            "sam",
            "resolved via console; status: acknowledged -> resolved; reason: Called her back.",
        ),
    ]


def test_resolving_keeps_the_first_acknowledgement(session: Session) -> None:
    add_user(session, "joy")
    add_user(session, "sam")
    escalation = add_escalation(session, add_participant(session))
    acknowledge(session=session, escalation_id=escalation.id, actor="joy")
    session.commit()

    outcome = resolve(session=session, escalation_id=escalation.id, actor="sam", note="Done.")
    session.commit()

    assert outcome.escalation.acknowledged_by == "joy"
    assert outcome.escalation.resolved_by == "sam"


def _new_session(database_url: str) -> Session:
    return sessionmaker(bind=get_engine(database_url), future=True, expire_on_commit=False)()


def test_acknowledging_at_the_same_moment_only_one_wins(
    session: Session, database_url: str
) -> None:
    """Joy's acknowledgement is still uncommitted when Sam's arrives: Sam's must not count."""
    add_user(session, "joy")
    add_user(session, "sam")
    escalation = add_escalation(session, add_participant(session))
    session.close()
    first, second = _new_session(database_url), _new_session(database_url)
    started = threading.Event()

    def sams_acknowledgement() -> bool:
        started.set()
        outcome = acknowledge(session=second, escalation_id=escalation.id, actor="sam")
        second.commit()
        return outcome.changed

    try:
        joys = acknowledge(session=first, escalation_id=escalation.id, actor="joy")
        with ThreadPoolExecutor(max_workers=1) as pool:
            sams = pool.submit(sams_acknowledgement)
            started.wait()
            time.sleep(0.3)
            assert not sams.done()  # Sam's UPDATE waits for Joy's transaction
            first.commit()
            sam_changed = sams.result(timeout=20)
    finally:
        first.close()
        second.close()

    assert joys.changed and not sam_changed
    with _new_session(database_url) as check:
        stored = check.get(Escalation, escalation.id)
        assert stored is not None and stored.acknowledged_by == "joy"


def test_many_simultaneous_acknowledgements_have_exactly_one_winner(
    session: Session, database_url: str
) -> None:
    names = [f"nurse{index}" for index in range(4)]
    for name in names:
        add_user(session, name)
    escalation = add_escalation(session, add_participant(session))
    session.close()
    barrier = threading.Barrier(len(names))

    def acknowledge_as(name: str) -> bool:
        with _new_session(database_url) as own:
            barrier.wait()
            outcome = acknowledge(session=own, escalation_id=escalation.id, actor=name)
            own.commit()
            return outcome.changed

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        results = list(pool.map(acknowledge_as, names))

    assert results.count(True) == 1
    winner = names[results.index(True)]
    with _new_session(database_url) as check:
        stored = check.get(Escalation, escalation.id)
        assert stored is not None and stored.acknowledged_by == winner
        events = check.execute(
            select(AuditEvent.detail).where(AuditEvent.action == "escalation.acknowledge")
        ).scalars()
        assert sorted(detail.startswith("acknowledged") for detail in events) == [
            False,
            False,
            False,
            True,
        ]


def test_raise_escalation_sets_the_code(session: Session) -> None:
    participant = add_participant(session)
    escalation = raise_escalation(
        session=session,
        participant_id=participant.id,
        level=LEVELS.EMERGENCY,
        type=EscalationType.EMERGENCY,
        reason="Red flag: chest pain",
    )
    assert escalation.ack_code and len(escalation.ack_code) == ACK_CODE_LENGTH


# --- grouped by participant, acknowledged together ------------------------------------


def test_the_queue_groups_by_participant_most_severe_first(
    session: Session, study: StudyConfig
) -> None:
    add_user(session, "joy")
    calm, worried, waiting = (add_participant(session, f"P-00{n}") for n in (1, 2, 3))
    now = utcnow()

    def at(minutes_ago: int) -> object:
        return now - timedelta(minutes=minutes_ago)

    calm_routine = add_escalation(session, calm, LEVELS.ROUTINE, created_at=at(300))
    worried_routine = add_escalation(session, worried, LEVELS.ROUTINE, created_at=at(60))
    worried_emergency = add_escalation(session, worried, LEVELS.EMERGENCY, created_at=at(2))
    waiting_urgent = add_escalation(session, waiting, LEVELS.URGENT, created_at=at(40))
    handled = add_participant(session, "P-004")
    add_escalation(
        session,
        handled,
        LEVELS.EMERGENCY,
        created_at=at(10),
        status=EscalationStatus.ACKNOWLEDGED,
        acknowledged_by="joy",
    )

    groups = open_items_by_participant(session=session, study=study, now=now)

    assert [group.study_id for group in groups] == ["P-002", "P-003", "P-001", "P-004"]
    worried_group = groups[0]
    assert [item.escalation_id for item in worried_group.items] == [
        worried_emergency.id,
        worried_routine.id,
    ]
    assert worried_group.level is LEVELS.EMERGENCY and worried_group.open_count == 2
    assert [item.escalation_id for item in groups[1].items] == [waiting_urgent.id]
    assert groups[1].overdue  # 40 minutes, urgent target 15
    assert [item.escalation_id for item in groups[2].items] == [calm_routine.id]
    assert groups[3].open_count == 0  # acknowledged only: after everything still open


def test_acknowledge_many_writes_one_audit_event_per_item(session: Session) -> None:
    add_user(session, "joy")
    add_user(session, "sam")
    participant = add_participant(session)
    first, second, taken = (add_escalation(session, participant) for _ in range(3))
    acknowledge(session=session, escalation_id=taken.id, actor="sam")

    outcomes = acknowledge_many(
        session=session, ids=[second.id, first.id, taken.id, first.id, 99999], actor="joy"
    )
    session.commit()

    assert [(o.escalation.id, o.changed) for o in outcomes] == [
        (first.id, True),
        (second.id, True),
        (taken.id, False),
    ]
    events = session.execute(
        select(AuditEvent.escalation_id, AuditEvent.detail)
        .where(AuditEvent.actor == "joy", AuditEvent.action == "escalation.acknowledge")
        .order_by(AuditEvent.id)
    ).all()
    assert [tuple(event) for event in events] == [
        (first.id, "acknowledged via console; status: open -> acknowledged"),
        (second.id, "acknowledged via console; status: open -> acknowledged"),
        (taken.id, "already acknowledged by sam; via console"),
    ]


def test_acknowledge_many_needs_someone_who_may_act(session: Session) -> None:
    add_user(session, "rita", StaffRole.RESEARCHER)
    escalation = add_escalation(session, add_participant(session))

    with pytest.raises(NotAllowed):
        acknowledge_many(session=session, ids=[escalation.id], actor="rita")


def test_taking_over_resolves_the_requests_to_talk_to_a_person(session: Session) -> None:
    add_user(session, "joy")
    participant = add_participant(session)
    request = raise_escalation(
        session=session,
        participant_id=participant.id,
        level=LEVELS.URGENT,
        type=EscalationType.HANDOFF,
        reason="asked to talk to a person",
    )
    symptom = add_escalation(session, participant)

    resolved = resolve_handoff_requests(
        session=session, participant_id=participant.id, actor="joy", via="console", handoff_id=7
    )

    assert resolved == [request.id]
    stored = session.get(Escalation, request.id, populate_existing=True)
    assert stored is not None and stored.status is EscalationStatus.RESOLVED
    assert stored.resolution_note == "conversation taken over by joy via console (handoff 7)"
    other = session.get(Escalation, symptom.id, populate_existing=True)
    assert other is not None and other.status is EscalationStatus.OPEN
