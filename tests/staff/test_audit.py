"""The audit log: one writer, and append-only in the database itself (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from bot.db.models import AuditEvent
from bot.staff import audit
from bot.staff.audit import AuditAction
from tests.staff.factories import add_participant

UTC = timezone.utc


def _record(session: Session) -> AuditEvent:
    event = audit.record(
        session=session,
        actor="joy",
        action=AuditAction.ESCALATION_VIEWED,
        participant_id=7,
        escalation_id=3,
        detail="20 recent messages shown",
    )
    session.commit()
    return event


def test_record_appends_who_what_when_and_which_participant(session: Session) -> None:
    event = _record(session)

    stored = session.execute(select(AuditEvent)).scalar_one()
    assert stored.id == event.id
    assert (stored.actor, stored.action, stored.participant_id, stored.escalation_id) == (
        "joy",
        "escalation.view",
        7,
        3,
    )
    assert stored.detail == "20 recent messages shown"
    assert stored.at.tzinfo is not None


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).values(actor="someone else"),
        delete(AuditEvent),
        text("UPDATE audit_events SET detail = 'rewritten'"),
        text("DELETE FROM audit_events"),
    ],
    ids=["orm-update", "orm-delete", "sql-update", "sql-delete"],
)
def test_the_database_refuses_to_change_or_delete_audit_events(
    session: Session, statement: Executable
) -> None:
    _record(session)

    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(statement)
        session.flush()
    session.rollback()

    stored = session.execute(select(AuditEvent)).scalar_one()
    assert (stored.actor, stored.detail) == ("joy", "20 recent messages shown")


def test_changing_a_loaded_event_is_refused_too(session: Session) -> None:
    event = _record(session)

    event.detail = "rewritten"
    with pytest.raises(DBAPIError, match="append-only"):
        session.commit()
    session.rollback()


@pytest.mark.parametrize(
    ("actor", "action"),
    [("", "queue.view"), ("   ", "queue.view"), ("joy", "viewed"), ("joy", "Queue.View")],
)
def test_an_event_needs_an_actor_and_a_dotted_action(
    session: Session, actor: str, action: str
) -> None:
    with pytest.raises(ValueError, match=r"actor|action"):
        audit.record(session=session, actor=actor, action=action)


def test_a_change_records_old_and_new_values_and_the_reason(session: Session) -> None:
    audit.record(
        session=session,
        actor="joy",
        action=AuditAction.PARTICIPANT_CHANGED,
        participant_id=7,
        detail="changed in the console",
        old={"status": "active", "checkin_time": None},
        new={"status": "withdrawn", "checkin_time": "18:30"},
        reason="  asked to stop\n by phone ",
    )
    session.commit()

    stored = session.execute(select(AuditEvent)).scalar_one()
    assert stored.detail == (
        "changed in the console; status: active -> withdrawn; "
        "checkin_time: none -> 18:30; reason: asked to stop by phone"
    )


def test_without_changes_the_detail_is_as_given() -> None:
    assert audit.change_detail("seen", old={}, new={}, reason=None) == "seen"
    assert audit.change_detail("", old={}, new={"role": AuditAction.SIGN_IN}, reason="") == (
        "role: none -> auth.sign_in"
    )


def _events(session: Session) -> None:
    """Five events: two participants, three actors, two days."""
    first, second = add_participant(session, "P-001"), add_participant(session, "P-002")
    rows = [
        ("joy", AuditAction.ESCALATION_VIEWED, first.id, datetime(2026, 3, 1, 9, 0, tzinfo=UTC)),
        (
            "joy",
            AuditAction.ESCALATION_ACKNOWLEDGED,
            first.id,
            datetime(2026, 3, 1, 9, 5, tzinfo=UTC),
        ),
        ("rita", AuditAction.FIGURES_VIEWED, None, datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        ("ada", AuditAction.USER_DEACTIVATED, None, datetime(2026, 3, 2, 11, 0, tzinfo=UTC)),
        (
            "ada",
            AuditAction.PARTICIPANT_CHANGED,
            second.id,
            datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
        ),
    ]
    for actor, action, participant_id, at in rows:
        session.add(
            AuditEvent(actor=actor, action=action.value, participant_id=participant_id, at=at)
        )
    session.commit()


def test_find_events_by_who_what_when_and_participant(session: Session) -> None:
    _events(session)
    first_id = session.execute(
        text("SELECT id FROM participants WHERE study_id = 'P-001'")
    ).scalar_one()

    def actions(**filters: object) -> list[str]:
        chosen = audit.AuditFilter(**filters)  # type: ignore[arg-type]
        return [row.action for row in audit.find_events(session=session, filters=chosen, limit=10)]

    assert actions(actor="JOY") == ["escalation.acknowledge", "escalation.view"]
    assert actions(action="user.deactivate") == ["user.deactivate"]
    assert actions(action="escalation") == ["escalation.acknowledge", "escalation.view"]
    assert actions(since=datetime(2026, 3, 2, tzinfo=UTC)) == [
        "participant.change",
        "user.deactivate",
        "figures.view",
    ]
    assert actions(until=datetime(2026, 3, 1, 9, 5, tzinfo=UTC)) == ["escalation.view"]
    assert actions(participant_id=first_id) == ["escalation.acknowledge", "escalation.view"]
    assert audit.count_events(session=session, filters=audit.AuditFilter()) == 5
    page = audit.find_events(session=session, filters=audit.AuditFilter(), limit=2, offset=2)
    assert [row.action for row in page] == ["figures.view", "escalation.acknowledge"]
    assert page[1].study_id == "P-001"


def test_all_events_reads_every_row_in_batches_oldest_first(session: Session) -> None:
    _events(session)

    rows = list(audit.all_events(session=session, filters=audit.AuditFilter(), batch_size=2))

    assert [row.actor for row in rows] == ["joy", "joy", "rita", "ada", "ada"]
    assert audit.actions_in_use(session=session)[0] == "escalation.acknowledge"
