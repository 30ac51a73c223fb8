"""The inbound queue's SQL (bot/messaging/inbound.py) on SQLite and PostgreSQL: a waiting
message is claimed by one holder at a time, only as the participant's oldest, and taken
over once its lease has run out.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from bot.core.settings import get_settings
from bot.db.models import Channel, Direction, MessageLog
from bot.db.repository import log_message
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.escalation.records import latest_inbound_message_id
from bot.messaging.inbound import (
    Claimant,
    RetryState,
    Stored,
    claim_retried,
    finish_and_take_next,
    renew,
    take_next,
    waiting_participants,
)
from bot.participants.enrollment import enroll
from bot.study.config import current_study

pytestmark = pytest.mark.usefixtures("database_url")

LEASE = timedelta(seconds=60)
ONE = Claimant("server-one", LEASE)
TWO = Claimant("server-two", LEASE)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCRYPTION_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()


def participant(study_id: str = "P-001", phone: str = "+15555550123") -> tuple[int, str]:
    with session_scope() as session:
        enrolled = enroll(
            session=session,
            study=current_study(),
            study_id=study_id,
            channel=Channel.SMS,
            timezone_name="UTC",
            phone=phone,
        ).participant
        return enrolled.id, enrolled.sender_id


def store(who: tuple[int, str], text: str, *, ago: timedelta = timedelta(0)) -> int:
    """A participant's SMS stored waiting, as the channel stores it."""
    with session_scope() as session:
        entry = log_message(
            session=session,
            sender_id=who[1],
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            text=text,
            participant_id=who[0],
            external_id=f"SM{text.replace(' ', '')}",
            awaiting=True,
        )
        entry.created_at = utcnow() - ago
        return entry.id


def take(who: tuple[int, str], claimant: Claimant, now: datetime, **kw: Any) -> Stored | None:
    with session_scope() as session:
        return take_next(
            session=session,
            participant_id=who[0],
            channel=Channel.SMS,
            claimant=claimant,
            now=now,
            **kw,
        )


def finish(stored: Stored, claimant: Claimant, now: datetime) -> Stored | None:
    with session_scope() as session:
        return finish_and_take_next(session=session, stored=stored, claimant=claimant, now=now)


def row(log_id: int) -> MessageLog:
    with session_scope() as session:
        entry = session.get(MessageLog, log_id)
        assert entry is not None
        return entry


def test_an_inbound_message_is_handled_when_written_unless_it_awaits_its_channel() -> None:
    who = participant()
    with session_scope() as session:
        written, outbound = (
            log_message(
                session=session, sender_id=who[1], channel=channel, direction=direction, text="hi"
            ).id
            for channel, direction in [
                (Channel.WEB, Direction.INBOUND),
                (Channel.SMS, Direction.OUTBOUND),
            ]
        )
        session.add(
            MessageLog(
                sender_id=who[1], channel=Channel.SMS, direction=Direction.INBOUND, text="demo"
            )
        )
    waiting = store(who, "later")

    assert row(written).handled_at is not None
    assert row(outbound).handled_at is None
    assert row(waiting).handled_at is None
    with session_scope() as session:
        handled = session.execute(
            select(MessageLog.handled_at).where(MessageLog.text == "demo")
        ).scalar_one()
    assert handled is not None


def test_only_the_oldest_waiting_message_is_claimed_and_by_one_holder_at_a_time() -> None:
    who = participant()
    first, second = store(who, "one"), store(who, "two")
    now = utcnow()

    claimed = take(who, ONE, now)
    assert claimed is not None
    assert (claimed.log_id, claimed.text, claimed.attempt) == (first, "one", 1)
    assert take(who, TWO, now) is None  # the first is held; the second waits behind it
    assert take(who, ONE, now) is None

    following = finish(claimed, ONE, now)

    assert following is not None and following.log_id == second
    assert row(first).handled_at is not None
    assert (row(first).claimed_by, row(second).claimed_by) == (None, ONE.token)
    assert finish(following, ONE, now) is None
    assert row(second).handled_at is not None


def test_a_claim_whose_lease_ran_out_is_taken_over_and_the_old_holder_cannot_finish() -> None:
    who = participant()
    first = store(who, "one")
    now = utcnow()
    claimed = take(who, ONE, now)
    assert claimed is not None

    assert take(who, TWO, now + LEASE - timedelta(seconds=1)) is None
    taken = take(who, TWO, now + LEASE)

    assert taken is not None and (taken.log_id, taken.attempt) == (first, 2)
    assert finish(claimed, ONE, now + LEASE) is None  # the claim was lost: not ours to mark
    assert row(first).handled_at is None
    assert finish(taken, TWO, now + LEASE) is None
    assert row(first).handled_at is not None


def test_a_renewed_lease_is_not_taken_over() -> None:
    who = participant()
    store(who, "one")
    now = utcnow()
    claimed = take(who, ONE, now)
    assert claimed is not None

    with session_scope() as session:
        assert renew(session=session, stored=claimed, claimant=ONE, now=now + LEASE / 2)
        assert not renew(session=session, stored=claimed, claimant=TWO, now=now + LEASE / 2)

    assert take(who, TWO, now + LEASE) is None
    assert take(who, TWO, now + LEASE * 1.5) is not None


def test_a_sweep_sees_only_messages_older_than_the_grace_period_that_nobody_holds() -> None:
    young, old, held = (
        participant("P-1", "+15555550101"),
        participant("P-2", "+15555550102"),
        (participant("P-3", "+15555550103")),
    )
    store(young, "hi")
    store(old, "hello", ago=timedelta(minutes=5))
    store(held, "hey", ago=timedelta(minutes=5))
    now = utcnow()
    assert take(held, ONE, now) is not None

    with session_scope() as session:
        waiting = waiting_participants(
            session=session, channel=Channel.SMS, now=now, arrived_by=now - timedelta(minutes=1)
        )

    assert waiting == [old[0]]
    assert take(young, TWO, now, arrived_by=now - timedelta(minutes=1)) is None


def test_a_redelivered_message_is_claimed_only_if_it_waits_and_nobody_holds_it() -> None:
    who = participant()
    log_id = store(who, "one")
    now = utcnow()

    def redelivered(claimant: Claimant, at: datetime) -> RetryState:
        with session_scope() as session:
            return claim_retried(
                session=session,
                channel=Channel.SMS,
                external_id="SMone",
                claimant=claimant,
                now=at,
            ).state

    assert redelivered(ONE, now) is RetryState.CLAIMED
    assert redelivered(TWO, now) is RetryState.WAITING
    with session_scope() as session:
        session.execute(update(MessageLog).where(MessageLog.id == log_id).values(handled_at=now))
    assert redelivered(TWO, now) is RetryState.HANDLED


def test_the_message_being_handled_is_the_oldest_waiting_one() -> None:
    who = participant()
    first = store(who, "one")
    store(who, "two")
    with session_scope() as session:
        assert latest_inbound_message_id(session=session, sender_id=who[1]) == first
        session.execute(update(MessageLog).values(handled_at=utcnow()))
        latest = latest_inbound_message_id(session=session, sender_id=who[1])
    assert latest == first + 1


def test_claims_from_many_threads_at_once_give_the_message_to_exactly_one(
    database_url: str,
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite writes one transaction at a time; PostgreSQL is where this races")
    who = participant()
    store(who, "one")
    store(who, "two")
    now = utcnow()
    barrier = threading.Barrier(8)
    won: list[Stored] = []

    def claim(index: int) -> None:
        barrier.wait()
        claimed = take(who, Claimant(f"server-{index}", LEASE), now)
        if claimed is not None:
            won.append(claimed)

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [claimed.text for claimed in won] == ["one"]
