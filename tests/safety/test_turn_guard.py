"""The turn guard (bot/safety/turn_guard.py): what the channel layer makes good after a turn.

The turn itself is a stand-in here (it answers, says nothing, or fails), so every branch
is tried without a model; tests/safety/test_conversation_paths.py runs the real stack.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.db.models import DeferredTurn, Escalation, EscalationLevel, EscalationType
from bot.safety.emergency import record_emergency
from bot.safety.turn_guard import guard_turn
from bot.study.config import current_study
from bot.study.wording import messages

pytestmark = pytest.mark.usefixtures("database_url")

SENDER = "web-guardtest01"
Turn = Callable[[UserMessage], Awaitable[Any]]


async def says_nothing(message: UserMessage) -> None:
    """A turn that ends with no reply (a policy that only listens, the circuit breaker)."""


async def fails(message: UserMessage) -> None:
    """A turn that crashes (the action server down, a bug)."""
    raise RuntimeError("the action server is down")


def answers(*texts: str) -> Turn:
    """A turn that sends these texts."""

    async def turn(message: UserMessage) -> None:
        for text in texts:
            await message.output_channel.send_response(message.sender_id, {"text": text})

    return turn


async def run(text: str, turn: Turn, message_id: str = "m-1") -> list[str]:
    """Guard one turn of `text`; what the participant got."""
    output = CollectingOutputChannel()
    await guard_turn(turn, UserMessage(text, output, SENDER, message_id=message_id), None)
    return [message["text"] for message in output.messages]


def escalations(session: Session) -> list[Escalation]:
    session.expire_all()
    return list(session.execute(select(Escalation).order_by(Escalation.id)).scalars())


def wording(key: str) -> list[str]:
    return messages(current_study(), key)


@pytest.mark.parametrize("turn", [says_nothing, fails], ids=["silent turn", "failed turn"])
async def test_a_red_flag_the_turn_did_not_answer_gets_the_reply_and_the_escalation(
    session: Session, turn: Turn
) -> None:
    said = await run("crushing chest pain", turn)

    assert said == wording("emergency")
    [escalation] = escalations(session)
    assert (escalation.level, escalation.type) == (
        EscalationLevel.EMERGENCY,
        EscalationType.EMERGENCY,
    )
    assert escalation.trigger_message_id == "m-1"
    assert escalation.reason == "red flag: chest pain"


async def test_self_harm_gets_the_crisis_line_from_the_channel_layer_too(
    session: Session,
) -> None:
    said = await run("i want to kill myself", says_nothing)

    assert said == wording("emergency_self_harm")
    assert current_study().crisis_line in said[0]


async def test_one_emergency_escalation_per_message_however_often_it_is_handled(
    session: Session,
) -> None:
    await run("i cant breathe", says_nothing)
    await run("i cant breathe", says_nothing)

    assert len(escalations(session)) == 1


async def test_a_turn_that_answered_the_emergency_gets_nothing_more(session: Session) -> None:
    async def the_dialogue(message: UserMessage) -> None:
        await answers(*wording("emergency"))(message)
        record_emergency(
            session=session,
            participant_id=_participant_id(session),
            categories=["chest_pain"],
            trigger_message_id=message.message_id,
        )
        session.commit()

    said = await run("crushing chest pain", the_dialogue)

    assert said == wording("emergency")
    assert len(escalations(session)) == 1


async def test_a_turn_that_gave_the_reply_but_stored_nothing_gets_the_escalation(
    session: Session,
) -> None:
    said = await run("crushing chest pain", answers(*wording("emergency")))

    assert said == wording("emergency")
    assert [e.type for e in escalations(session)] == [EscalationType.EMERGENCY]


@pytest.mark.parametrize("turn", [says_nothing, fails], ids=["silent turn", "failed turn"])
async def test_no_message_ends_with_no_reply(
    session: Session, turn: Turn, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        said = await run("what is a placebo", turn)

    assert said == wording("assistant_failed")
    [escalation] = escalations(session)
    assert (escalation.level, escalation.type) == (EscalationLevel.ROUTINE, EscalationType.OTHER)
    incident = [r.getMessage() for r in caplog.records if "got no reply" in r.getMessage()]
    assert incident and SENDER in incident[0]
    assert "placebo" not in " ".join(r.getMessage() for r in caplog.records)


async def test_a_turn_that_answered_is_left_alone(session: Session) -> None:
    said = await run("what is a placebo", answers("A placebo looks like the drug."))

    assert said == ["A placebo looks like the drug."]
    assert escalations(session) == []


async def test_a_negated_red_flag_is_not_an_emergency(session: Session) -> None:
    said = await run("no chest pain today", answers("That is great to hear!"))

    assert said == ["That is great to hear!"]
    assert escalations(session) == []


def _participant_id(session: Session) -> int:
    from bot.db.repository import ensure_web_participant

    participant = ensure_web_participant(session=session, sender_id=SENDER)
    session.commit()
    return participant.id


def spanish(key: str) -> list[str]:
    return messages(current_study(), key, language="es")


def spoke(language: str) -> Turn:
    """A turn that says which language the dialogue was told (the `language` metadata)."""

    async def turn(message: UserMessage) -> None:
        said = (message.metadata or {}).get("language")
        await message.output_channel.send_response(message.sender_id, {"text": f"lang={said}"})

    return turn


async def test_the_dialogue_is_told_the_participants_language(session: Session) -> None:
    assert await run("hola, q es un placebo", spoke("es")) == ["lang=es"]
    assert await run("what is a placebo", spoke("es"), message_id="m-2") == ["lang=es"]


async def test_a_request_to_change_language_is_confirmed_in_the_new_language(
    session: Session,
) -> None:
    await run("hi there", spoke("en"))

    said = await run("español", answers("the dialogue should not run"), message_id="m-2")

    assert said == spanish("language_changed")
    assert await run("what is a placebo", spoke("es"), message_id="m-3") == ["lang=es"]


@pytest.mark.parametrize("turn", [says_nothing, fails], ids=["silent turn", "failed turn"])
async def test_a_spanish_red_flag_the_turn_did_not_answer_gets_the_spanish_reply(
    session: Session, turn: Turn
) -> None:
    await run("hola buenas tardes", answers("hola"))

    said = await run("me duele mucho el pecho", turn, message_id="m-2")

    assert said == spanish("emergency")
    [escalation] = escalations(session)
    assert escalation.trigger_message_id == "m-2"


async def test_an_emergency_reply_given_in_either_language_is_not_given_again(
    session: Session,
) -> None:
    await run("hola buenas tardes", answers("hola"))

    said = await run("i cant breathe", answers(*wording("emergency")), message_id="m-2")

    assert said == wording("emergency")


@pytest.mark.parametrize(
    ("text", "reply"), [("crushing chest pain", "emergency"), ("what is a placebo", None)]
)
async def test_a_deferred_turn_that_fails_still_leaves_the_message_its_reply(
    session: Session, monkeypatch: pytest.MonkeyPatch, text: str, reply: str | None
) -> None:
    """A check-in opening's Rasa turn waits to run before this message (bot.outreach.deferred);
    its run crashes: the participant's own message is still handled and answered, and a red
    flag still gets the emergency reply."""
    from bot.db.repository import ensure_web_participant
    from bot.outreach import deferred
    from bot.safety import turn_guard

    participant = ensure_web_participant(session=session, sender_id=SENDER)
    session.flush()
    deferred.hold(
        session=session, participant_id=participant.id, sender_id=SENDER, message_id=None,
        intent="start_checkin", entities={}, said=[{"text": "Hi! Time for your check-in."}],
    )  # fmt: skip
    session.execute(update(DeferredTurn).values(status=deferred.PENDING))
    session.commit()
    ran: list[list[int]] = []

    async def crashes(agent: Any, turn: Any, waiting: list[int]) -> None:
        ran.append(waiting)
        raise RuntimeError("Rasa crashed on the deferred turn")

    monkeypatch.setattr(turn_guard, "_run_deferred", crashes)

    said = await run(text, answers("A placebo looks like the medicine but has none in it."))

    assert len(ran) == 1  # it was tried first
    if reply:
        assert said[-len(wording(reply)) :] == wording(reply)
        assert [e.type for e in escalations(session)] == [EscalationType.EMERGENCY]
    else:
        assert said == ["A placebo looks like the medicine but has none in it."]
