"""The group checks of check-in openings (bot.outreach.grouped) give the one-by-one checks'
answers (repository.earlier_unsent, engagement.completed_checkin_between,
deferred.idle_for_opening), for many participants in many states at once; and the
misses counted for many (engagement.missed_in_a_row_of) are each one's own count.
On SQLite and PostgreSQL, with Rasa's `events` table as a Rasa server leaves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from bot.db.models import (
    Checkin,
    CheckinStatus,
    DeferredTurn,
    OutreachStatus,
    ScheduledMessage,
    tracker_events,
)
from bot.db.session import get_engine, session_scope
from bot.outreach import deferred, engagement, grouped
from bot.outreach.repository import Kind, earlier_unsent
from tests.outreach.conftest import add_participant, local
from tests.outreach.test_deferred import _handoff, rasa_event
from tests.outreach.test_worker import PROMPTS_ONLY

NOW = local(2026, 3, 2, 18)
RECENT = timedelta(hours=12)


@pytest.fixture(autouse=True)
def rasa_events_table(database_url: str) -> Iterator[None]:
    """Rasa's `events` table, as a Rasa server on this database creates it."""
    engine = get_engine(database_url)
    tracker_events.create(engine, checkfirst=True)
    yield
    tracker_events.drop(engine, checkfirst=True)
    deferred.forget_rasa_stores()


def _prompt(participant_id: int, due: datetime, status: OutreachStatus, key: str) -> int:
    with session_scope() as session:
        message = ScheduledMessage(
            participant_id=participant_id,
            kind=Kind.CHECKIN_PROMPT.value,
            due_at=due,
            dedupe_key=key,
            status=status,
            detail={},
            attempts=0,
            created_at=due,
            sent_at=due if status is OutreachStatus.SENT else None,
        )
        session.add(message)
        session.flush()
        return message.id


def _checkin(participant_id: int, status: CheckinStatus, started: datetime) -> None:
    with session_scope() as session:
        session.add(
            Checkin(
                participant_id=participant_id,
                status=status,
                started_at=started,
                completed_at=started + timedelta(minutes=5)
                if status is CheckinStatus.COMPLETED
                else None,
            )
        )


def _turn(participant_id: int, sender_id: str, status: str) -> None:
    with session_scope() as session:
        session.add(
            DeferredTurn(
                participant_id=participant_id,
                sender_id=sender_id,
                scheduled_message_id=None,
                intent="start_checkin",
                entities={},
                said=[],
                status=status,
                created_at=NOW - timedelta(days=1),
            )
        )


# Each state: what to do to a participant (id, sender_id) before their prompt is due.
STATES: dict[str, Callable[[int, str], None]] = {
    "idle": lambda pid, sender: None,
    "handoff": lambda pid, sender: _handoff(SimpleNamespace(id=pid)),
    "turn waiting": lambda pid, sender: _turn(pid, sender, deferred.PENDING),
    "turn done": lambda pid, sender: _turn(pid, sender, deferred.DONE),
    "check-in unfinished": lambda pid, sender: _checkin(
        pid, CheckinStatus.IN_PROGRESS, NOW - timedelta(hours=2)
    ),
    "check-in unfinished long ago": lambda pid, sender: _checkin(
        pid, CheckinStatus.PAUSED, NOW - timedelta(days=2)
    ),
    "checked in lately": lambda pid, sender: _checkin(
        pid, CheckinStatus.COMPLETED, NOW - timedelta(hours=3)
    ),
    "checked in yesterday": lambda pid, sender: _checkin(
        pid, CheckinStatus.COMPLETED, NOW - timedelta(hours=30)
    ),
    "form active": lambda pid, sender: rasa_event(sender, "active_loop", "symptom_form"),
    "form ended": lambda pid, sender: (
        rasa_event(sender, "active_loop", "checkin_form"),
        rasa_event(sender, "active_loop", None),
    ),
    "form then restart": lambda pid, sender: (
        rasa_event(sender, "active_loop", "checkin_form"),
        rasa_event(sender, "restart"),
    ),
    "paused": lambda pid, sender: rasa_event(sender, "pause"),
    "resumed": lambda pid, sender: (rasa_event(sender, "pause"), rasa_event(sender, "resume")),
    "paused in a form": lambda pid, sender: (
        rasa_event(sender, "active_loop", "checkin_form"),
        rasa_event(sender, "pause"),
    ),
    "handoff and paused": lambda pid, sender: (
        _handoff(SimpleNamespace(id=pid)),
        rasa_event(sender, "pause"),
    ),
    "earlier prompt pending": lambda pid, sender: _prompt(
        pid, NOW - timedelta(days=1), OutreachStatus.PENDING, f"earlier:{pid}"
    ),
    "earlier prompt sent": lambda pid, sender: _prompt(
        pid, NOW - timedelta(days=1), OutreachStatus.SENT, f"earlier:{pid}"
    ),
    "later prompt pending": lambda pid, sender: _prompt(
        pid, NOW + timedelta(days=1), OutreachStatus.PENDING, f"later:{pid}"
    ),
}


def test_the_group_checks_answer_as_the_one_by_one_checks(database_url: str) -> None:
    due: dict[str, int] = {}
    for index, (name, make) in enumerate(STATES.items()):
        who = add_participant(
            study=PROMPTS_ONLY, study_id=f"P-{index:03}", enrolled_at=NOW - timedelta(days=3)
        )
        make(who.id, who.sender_id)
        due[name] = _prompt(who.id, NOW, OutreachStatus.SENDING, f"due:{who.id}")

    with session_scope() as session:
        found = grouped.facts(
            session=session,
            message_ids=list(due.values()),
            now=NOW,
            recent=RECENT,
            rasa_store=deferred.has_rasa_store(session),
        )
        one_by_one: dict[str, tuple[Any, ...]] = {}
        in_groups: dict[str, tuple[Any, ...]] = {}
        for name, message_id in due.items():
            message = session.get(ScheduledMessage, message_id)
            assert message is not None
            participant = found.participants[message.participant_id]
            one_by_one[name] = (
                earlier_unsent(session=session, message=message, now=NOW),
                engagement.completed_checkin_between(
                    session=session, participant_id=participant.id, start=NOW - RECENT
                ),
                deferred.idle_for_opening(
                    session=session,
                    participant_id=participant.id,
                    sender_id=participant.sender_id,
                    now=NOW,
                ),
            )
            in_groups[name] = (
                message_id in found.must_wait,
                participant.id in found.checked_in,
                found.busy.get(participant.id),
            )

    assert in_groups == one_by_one
    # The cases do differ: every answer is given somewhere.
    assert one_by_one["idle"] == (False, False, None)
    assert one_by_one["earlier prompt pending"][0]
    assert one_by_one["checked in lately"][1]
    assert {answer[2] for answer in one_by_one.values()} >= {
        None,
        *deferred.BUSY,
        "a form is active (symptom_form)",
        "a form is active (checkin_form)",
        "the conversation is paused",
    }


def test_with_no_rasa_store_no_conversation_counts_as_idle(database_url: str) -> None:
    who = add_participant(study=PROMPTS_ONLY, study_id="P-1", enrolled_at=NOW)
    message_id = _prompt(who.id, NOW, OutreachStatus.SENDING, "due")
    with session_scope() as session:
        found = grouped.facts(
            session=session, message_ids=[message_id], now=NOW, recent=RECENT, rasa_store=False
        )
    assert found.busy == {who.id: deferred.NO_RASA_STORE}


@pytest.mark.parametrize("threshold", [1, 2, 3])
def test_misses_counted_for_many_are_each_ones_own(database_url: str, threshold: int) -> None:
    """Several participants, each with prompts sent daily and check-ins completed on some
    days: the count for all at once equals each one's count alone."""
    patterns = {
        "never": [],
        "every day": [0, 1, 2, 3, 4],
        "only the first day": [0],
        "not lately": [0, 1],
        "yesterday only": [3],
    }
    ids = []
    for index, days in enumerate(patterns.values()):
        who = add_participant(
            study=PROMPTS_ONLY, study_id=f"M-{index}", enrolled_at=NOW - timedelta(days=6)
        )
        ids.append(who.id)
        for day in range(5):
            sent = NOW - timedelta(days=5 - day)
            _prompt(who.id, sent, OutreachStatus.SENT, f"sent:{who.id}:{day}")
            if day in days:
                _checkin(who.id, CheckinStatus.COMPLETED, sent + timedelta(minutes=10))

    with session_scope() as session:
        together = engagement.missed_in_a_row_of(
            session=session, participant_ids=ids, limit=threshold
        )
        alone = {
            participant_id: engagement.missed_in_a_row(
                session=session, participant_id=participant_id, limit=threshold
            )
            for participant_id in ids
        }
        # By hand: prompts are judged newest first, until one was answered.
        expected = {}
        for participant_id, days in zip(ids, patterns.values(), strict=True):
            missed = 0
            for day in range(3, 3 - threshold, -1):
                if day < 0 or day in days:
                    break
                missed += 1
            expected[participant_id] = missed

    assert {pid: together.get(pid, 0) for pid in ids} == alone == expected
