"""Rasa turns run after their replies were sent: the fast path of a scheduled check-in.

Why. A scheduled check-in used to start with one Rasa `trigger_intent` turn per
participant (three action-server calls, three predictions, a tracker load and save), so
a study whose participants share a check-in time got its prompts at the pace of Rasa's
turns: minutes late for the last of a few thousand. What that turn says to a participant
whose conversation is idle is fixed: the study's `checkin_prompt` wording, then the
form's first question with its answer buttons (`bot.actions.checkin.scheduled_opening`).

How. When the conversation is idle (`idle_for_opening`), the outreach worker sends that
opening itself, through the same delivery as Rasa's output channels (message log,
retries, provider pace), and stores the turn here. The turn is run later, with its
replies collected and not sent, and compared with what was sent:

- in the Rasa server, before the participant's next message is handled
  (`bot.safety.turn_guard`, under the conversation's lock as Rasa's own endpoint does),
  so the participant's answer always meets the check-in form;
- by the outreach worker after its sends (`OutreachWorker.catch_up`), through Rasa's
  HTTP API with no output channel, a few at a time, so Rasa's state and the check-in
  record exist soon even for participants who do not answer.

Whoever claims a turn runs it (a conditional UPDATE; a claim is a lease). A turn whose
replies differ from what was sent is kept as `differs` with both, and logged: the
participant saw the sent opening, and the conversation goes on from Rasa's state.

Idle means: no handoff active, the conversation not paused, no form active, no check-in
left unfinished recently (Rasa would pick it up: `checkin_resume`), and no turn of this
kind still waiting. Anything else takes the slow path: the `trigger_intent` turn at due
time, its replies sent by Rasa's output channel, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, insert, inspect, or_, select, update
from sqlalchemy.orm import Session

from bot.db.models import (
    Checkin,
    CheckinStatus,
    DeferredTurn,
    Handoff,
    tracker_events,
)
from bot.db.types import utcnow
from bot.study.choices import FEELING_CHOICES, buttons_in
from bot.study.config import StudyConfig
from bot.study.wording import messages

logger = logging.getLogger(__name__)

HELD = "held"
PENDING = "pending"
RUNNING = "running"
DONE = "done"
DIFFERS = "differs"
FAILED = "failed"
OPEN = (HELD, PENDING, RUNNING)
# A claim on a turn: far longer than a Rasa turn takes.
LEASE = timedelta(seconds=60)
# A check-in unfinished for less than this is picked up, not started again
# (bot.actions.checkin uses this too).
RESUME_WITHIN = timedelta(hours=12)
# Rasa events that set or clear the active form, and pause or resume the conversation.
LOOP_EVENTS = ("active_loop", "session_started", "restart")
PAUSE_EVENTS = ("pause", "resume")
# Why a conversation is not idle, in the order `idle_for_opening` asks.
BUSY = (
    "a handoff is active",
    "an earlier opening's turn is still waiting",
    "a recent check-in is unfinished",
)
NO_RASA_STORE = "Rasa's conversation store is not in this database"


# The wordings of a scheduled check-in's opening: `action_start_checkin`'s, then the form's
# first question (`action_ask_checkin_feeling`).
PROMPT_WORDING = "checkin_prompt"
FIRST_QUESTION_WORDING = "ask_checkin_feeling"


def scheduled_opening(study: StudyConfig, language: str) -> list[dict[str, Any]]:
    """What Rasa says when a scheduled check-in starts in an idle conversation, as its
    output channels get it: the prompt, then the first question with its buttons."""
    opening: list[dict[str, Any]] = [
        {"text": text} for text in messages(study, PROMPT_WORDING, language=language)
    ]
    questions = messages(study, FIRST_QUESTION_WORDING, language=language)
    buttons = [dict(button) for button in buttons_in(FEELING_CHOICES, language)]
    for index, text in enumerate(questions):
        last = index == len(questions) - 1
        opening.append({"text": text, "buttons": buttons} if last else {"text": text})
    return opening


@dataclass(frozen=True)
class Turn:
    """A deferred turn, as its runner needs it."""

    id: int
    sender_id: str
    intent: str
    entities: dict[str, Any]
    said: list[dict[str, Any]]


def _turn(row: DeferredTurn) -> Turn:
    return Turn(row.id, row.sender_id, row.intent, dict(row.entities), list(row.said))


def idle_for_opening(
    *, session: Session, participant_id: int, sender_id: str, now: datetime
) -> str | None:
    """None when a scheduled check-in's opening may be sent without Rasa (module doc);
    otherwise why not (the slow path is taken). Two statements: the project's tables, then
    Rasa's."""
    handoff = exists().where(Handoff.participant_id == participant_id, Handoff.ended_at.is_(None))
    waiting = exists().where(
        DeferredTurn.participant_id == participant_id, DeferredTurn.status.in_(OPEN)
    )
    unfinished = exists().where(
        Checkin.participant_id == participant_id,
        Checkin.status.in_((CheckinStatus.IN_PROGRESS, CheckinStatus.PAUSED)),
        Checkin.started_at >= now - RESUME_WITHIN,
    )
    found = session.execute(select(handoff, waiting, unfinished)).one()
    for busy, why in zip(found, BUSY, strict=True):
        if busy:
            return why
    if not has_rasa_store(session):
        return NO_RASA_STORE
    return _rasa_state(session, sender_id)


# Databases where Rasa's `events` table was seen (once made, Rasa keeps it).
_RASA_STORES: set[str] = set()


def forget_rasa_stores() -> None:
    """Ask the database again whether Rasa's store is there (a test's database replaced)."""
    _RASA_STORES.clear()


def has_rasa_store(session: Session) -> bool:
    """True when Rasa's SQL tracker store (its `events` table) is in the session's database.
    Asked of the database (not by a failing query, which would end the transaction) until
    it is there."""
    bind = session.get_bind()
    key = str(bind.url)
    if key not in _RASA_STORES and inspect(session.connection()).has_table(tracker_events.name):
        _RASA_STORES.add(key)
    return key in _RASA_STORES


def _rasa_state(session: Session, sender_id: str) -> str | None:
    """Why the conversation in Rasa's SQL tracker store is not idle (None: it is): its
    latest form event and its latest pause or resume, in one statement (Rasa's index on
    `sender_id` finds its rows)."""
    events = tracker_events.c

    def latest(column: Any, types: Sequence[str]) -> Any:
        return (
            select(column)
            .where(events.sender_id == sender_id, events.type_name.in_(types))
            .order_by(events.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    loop_type, loop_name, pause_type = session.execute(
        select(
            latest(events.type_name, LOOP_EVENTS),
            latest(events.action_name, LOOP_EVENTS),
            latest(events.type_name, PAUSE_EVENTS),
        )
    ).one()
    return busy_because(loop_type, loop_name) or busy_because(pause_type, None)


def busy_because(type_name: str | None, action_name: str | None) -> str | None:
    """Why a conversation whose latest form (or pause) event is this one is not idle
    (None: it is): a form still active, or the conversation paused."""
    if type_name == "active_loop" and action_name:
        return f"a form is active ({action_name})"
    if type_name == "pause":
        return "the conversation is paused"
    return None


def hold(
    *,
    session: Session,
    participant_id: int,
    sender_id: str,
    message_id: int,
    intent: str,
    entities: Mapping[str, Any],
    said: Sequence[Mapping[str, Any]],
) -> None:
    """Note the turn of an opening about to be sent (not run until `arm`)."""
    hold_all(
        session=session,
        turns=[
            {
                "participant_id": participant_id,
                "sender_id": sender_id,
                "message_id": message_id,
                "intent": intent,
                "entities": entities,
                "said": said,
            }
        ],
    )


def hold_all(*, session: Session, turns: Sequence[Mapping[str, Any]]) -> None:
    """`hold` for many openings: one INSERT. Each mapping has `hold`'s arguments."""
    if not turns:
        return
    created = utcnow()
    session.execute(
        insert(DeferredTurn.__table__),
        [
            {
                "participant_id": turn["participant_id"],
                "sender_id": turn["sender_id"],
                "scheduled_message_id": turn["message_id"],
                "intent": turn["intent"],
                "entities": dict(turn["entities"]),
                "said": [dict(message) for message in turn["said"]],
                "status": HELD,
                "created_at": created,
            }
            for turn in turns
        ],
    )


def arm(*, session: Session, message_id: int) -> None:
    """The opening went out: its turn is to run."""
    arm_all(session=session, message_ids=[message_id])


def arm_all(*, session: Session, message_ids: Collection[int]) -> None:
    """`arm` for many openings: one statement."""
    if not message_ids:
        return
    session.execute(
        update(DeferredTurn)
        .where(
            DeferredTurn.scheduled_message_id.in_(list(message_ids)),
            DeferredTurn.status == HELD,
        )
        .values(status=PENDING)
        .execution_options(synchronize_session=False)
    )


def drop(*, session: Session, message_id: int) -> None:
    """The opening was not sent: its turn must not run."""
    drop_all(session=session, message_ids=[message_id])


def drop_all(*, session: Session, message_ids: Collection[int]) -> None:
    """`drop` for many openings: one statement."""
    if not message_ids:
        return
    session.execute(
        delete(DeferredTurn)
        .where(
            DeferredTurn.scheduled_message_id.in_(list(message_ids)),
            DeferredTurn.status == HELD,
        )
        .execution_options(synchronize_session=False)
    )


def waiting_for(*, session: Session, participant_id: int) -> list[int]:
    """The IDs of the participant's turns still to run (oldest first)."""
    return list(
        session.execute(
            select(DeferredTurn.id)
            .where(
                DeferredTurn.participant_id == participant_id,
                DeferredTurn.status.in_((PENDING, RUNNING)),
            )
            .order_by(DeferredTurn.id)
        ).scalars()
    )


def due(*, session: Session, limit: int) -> list[int]:
    """Up to `limit` turns waiting to run, oldest first."""
    return list(
        session.execute(
            select(DeferredTurn.id)
            .where(DeferredTurn.status == PENDING)
            .order_by(DeferredTurn.id)
            .limit(limit)
        ).scalars()
    )


def claim(
    *, session: Session, turn_id: int, token: str, now: datetime, lease: timedelta = LEASE
) -> Turn | None:
    """Take a turn to run it: pending, or running on a lease that ran out. None: someone
    else has it, or it is settled."""
    taken = session.execute(
        update(DeferredTurn)
        .where(
            DeferredTurn.id == turn_id,
            or_(
                DeferredTurn.status == PENDING,
                (DeferredTurn.status == RUNNING) & (DeferredTurn.claimed_at < now - lease),
            ),
        )
        .values(status=RUNNING, claimed_by=token, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        return None
    return _turn(session.get(DeferredTurn, turn_id, populate_existing=True))


def settled(*, session: Session, turn_id: int) -> bool:
    """True once a turn has run (or failed for good)."""
    status = session.execute(
        select(DeferredTurn.status).where(DeferredTurn.id == turn_id)
    ).scalar_one_or_none()
    return status not in (PENDING, RUNNING, HELD)


def finish(
    *,
    session: Session,
    turn_id: int,
    token: str,
    said_now: Sequence[Mapping[str, Any]] | None,
    note: str | None = None,
) -> str:
    """Record a run: done when Rasa said what was sent, `differs` otherwise, failed when
    it said nothing (`said_now` None). The status recorded."""
    row = session.get(DeferredTurn, turn_id, populate_existing=True)
    if row is None or row.claimed_by != token:
        return "lost"
    if said_now is None:
        status = FAILED
    elif same_messages(row.said, said_now):
        status = DONE
    else:
        status = DIFFERS
        note = (note + "; " if note else "") + f"Rasa said: {list(said_now)!r}"
        logger.warning(
            "deferred turn %s (%s): Rasa's replies differ from the opening sent",
            turn_id,
            row.sender_id,
        )
    row.status, row.note, row.done_at = status, note, utcnow()
    return status


def release(*, session: Session, turn_id: int, token: str, note: str) -> None:
    """Put a claimed turn back (Rasa could not be reached: it did not run)."""
    session.execute(
        update(DeferredTurn)
        .where(DeferredTurn.id == turn_id, DeferredTurn.claimed_by == token)
        .values(status=PENDING, claimed_by=None, claimed_at=None, note=note)
        .execution_options(synchronize_session=False)
    )


def comparable(message: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What a participant sees of one bot message: its text and its buttons."""
    buttons = tuple(
        (str(button.get("title") or ""), str(button.get("payload") or ""))
        for button in message.get("buttons") or ()
    )
    return " ".join(str(message.get("text") or "").split()), buttons


def same_messages(sent: Sequence[Mapping[str, Any]], said: Sequence[Mapping[str, Any]]) -> bool:
    """True when two lists of bot messages show a participant the same things."""
    return [comparable(message) for message in sent] == [comparable(message) for message in said]
