"""A full handoff, both ways, over SMS and Telegram: take over, talk, hand back.

The participant's channel and the staff member's run through the real channels (served
as Rasa serves them), the stand-in Twilio and Telegram APIs, and a stand-in for Rasa's
tracker endpoints (pause and resume). On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.alerts.worker import AlertWorker
from bot.core.settings import get_settings
from bot.db.models import (
    AuditEvent,
    Direction,
    Escalation,
    EscalationStatus,
    EscalationType,
    Handoff,
    MessageLog,
    Participant,
    StaffUser,
)
from bot.db.session import session_scope
from bot.study.config import current_study
from bot.study.wording import messages
from tests.alerts.support import (
    PARTICIPANT_CHAT,
    PARTICIPANT_PHONE,
    PUBLIC_URL,
    STAFF,
    FakeClock,
    enroll_sms,
    enroll_telegram,
    escalation,
    messages_to,
    raise_for,
    sms_texts,
    telegram_texts,
)
from tests.handoff.rasa_conversations import RasaConversationsStandIn
from tests.handoff.servers import ASSISTANT_REPLY, Channels, reply_update, serve_channels
from tests.stand_ins.telegram_api import callback_update, message_update

JOY, BOB = STAFF["joy"], STAFF["bob"]
WORDS = "I feel dizzy and my daughter Lisa is not home"


@pytest.fixture
async def channels(
    alert_env: str, rasa_api: RasaConversationsStandIn, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Channels]:
    async for served in serve_channels(rasa_api, monkeypatch):
        yield served


def wording(key: str, **values: str) -> list[str]:
    return messages(current_study(), key, **values)


def handoffs() -> list[Handoff]:
    with session_scope() as session:
        return list(session.execute(select(Handoff).order_by(Handoff.id)).scalars())


def audit_actions() -> list[str]:
    with session_scope() as session:
        return list(
            session.execute(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("handoff.%"))
                .order_by(AuditEvent.id)
            ).scalars()
        )


async def alert(clock: FakeClock, participant: Participant) -> Escalation:
    """A handoff request from the participant, alerted to Joy and the group."""
    raised = raise_for(participant, type=EscalationType.HANDOFF, reason="asked to talk to a person")
    await AlertWorker.from_settings(get_settings(), clock=clock).run_once()
    return raised


async def test_sms_participant_and_staff_on_telegram(
    channels, staff: dict[str, StaffUser], clock, rasa_api, telegram_api, twilio_api
) -> None:
    participant = enroll_sms()
    raised = await alert(clock, participant)

    # Joy presses "Take over the chat" under the alert.
    await channels.update(
        callback_update(channels.next_update_id(), JOY.chat_id, f"take:{raised.id}", message_id=1)
    )
    assert rasa_api.is_paused(participant.sender_id)
    # The request to talk to a person is met: resolved, not left open after the take-over.
    assert escalation(raised.id).status is EscalationStatus.RESOLVED
    assert sms_texts(twilio_api, PARTICIPANT_PHONE) == wording(
        "handoff_started", staff_name="Nurse Joy"
    )
    [handoff] = handoffs()
    assert telegram_texts(telegram_api, JOY.chat_id)[-1] == (
        "You are now talking with P-001; the assistant is paused. Reply to the alert, or "
        f"write here, to answer them. Their messages: {PUBLIC_URL}/console/handoffs/"
        f"{handoff.id} Send /done to hand back to the assistant."
    )

    # Joy replies to the alert: it reaches the participant by SMS, logged as hers.
    await channels.update(
        reply_update(
            channels.next_update_id(), JOY.chat_id, "Hi, this is Joy. How are you?", reply_to=1
        )
    )
    assert sms_texts(twilio_api, PARTICIPANT_PHONE)[-1] == "Hi, this is Joy. How are you?"
    assert messages_to(participant.sender_id)[-1].sent_by == "joy"

    # The participant answers: the assistant stays quiet, Joy is told (not what they said).
    sent_before = len(sms_texts(twilio_api, PARTICIPANT_PHONE))
    await channels.text(PARTICIPANT_PHONE, WORDS)
    assert [message.text for message in channels.agent.received] == [WORDS]
    assert len(sms_texts(twilio_api, PARTICIPANT_PHONE)) == sent_before
    notice = telegram_texts(telegram_api, JOY.chat_id)[-1]
    assert notice == (
        f"P-001 sent a new message. Read it here: {PUBLIC_URL}/console/handoffs/"
        f"{handoff.id} Reply to this chat to answer."
    )
    assert "dizzy" not in str([call.params for call in telegram_api.requests])

    # Joy writes in her own chat (not a reply): it still goes to her one conversation.
    await channels.update(
        message_update(channels.next_update_id(), JOY.chat_id, "Please sit down. I will call.")
    )
    assert sms_texts(twilio_api, PARTICIPANT_PHONE)[-1] == "Please sit down. I will call."

    # /done hands back: the assistant resumes and says so.
    await channels.update(message_update(channels.next_update_id(), JOY.chat_id, "/done"))
    assert not rasa_api.is_paused(participant.sender_id)
    assert (
        sms_texts(twilio_api, PARTICIPANT_PHONE)[-1]
        == wording("handoff_ended", staff_name="Nurse Joy")[0]
    )
    assert telegram_texts(telegram_api, JOY.chat_id)[-1] == (
        "P-001 is back with the assistant. Thank you."
    )
    await channels.text(PARTICIPANT_PHONE, "thanks")
    assert sms_texts(twilio_api, PARTICIPANT_PHONE)[-1] == ASSISTANT_REPLY
    assert audit_actions() == ["handoff.start", "handoff.message", "handoff.message", "handoff.end"]


async def test_telegram_participant_and_staff_on_sms(
    channels, staff: dict[str, StaffUser], clock, rasa_api, telegram_api, twilio_api
) -> None:
    participant = enroll_telegram()
    raised = await alert(clock, participant)

    await channels.text(JOY.phone, f"take {raised.ack_code}")
    assert rasa_api.is_paused(participant.sender_id)
    assert telegram_texts(telegram_api, PARTICIPANT_CHAT) == wording(
        "handoff_started", staff_name="Nurse Joy"
    )
    assert sms_texts(twilio_api, JOY.phone)[-1].startswith(
        "You are now talking with P-002; the assistant is paused. Text me to answer them."
    )

    await channels.text(JOY.phone, "Hello from Joy. Are you OK?")
    assert telegram_texts(telegram_api, PARTICIPANT_CHAT)[-1] == "Hello from Joy. Are you OK?"

    await channels.update(message_update(channels.next_update_id(), PARTICIPANT_CHAT, WORDS))
    [handoff] = handoffs()
    assert sms_texts(twilio_api, JOY.phone)[-1] == (
        f"P-002 sent a new message. Read it here: {PUBLIC_URL}/console/handoffs/"
        f"{handoff.id} Reply to this text to answer."
    )
    assert len(telegram_texts(telegram_api, PARTICIPANT_CHAT)) == 2  # no assistant reply

    await channels.text(JOY.phone, "DONE")
    assert not rasa_api.is_paused(participant.sender_id)
    assert (
        telegram_texts(telegram_api, PARTICIPANT_CHAT)[-1]
        == wording("handoff_ended", staff_name="Nurse Joy")[0]
    )
    with session_scope() as session:
        [ended] = session.execute(select(Handoff)).scalars()
        assert ended.ended_by == "joy" and ended.ended_at is not None


async def test_a_reply_to_an_alert_takes_over_when_nobody_has(
    channels, staff: dict[str, StaffUser], clock, rasa_api, twilio_api
) -> None:
    participant = enroll_sms()
    await alert(clock, participant)

    await channels.update(
        reply_update(channels.next_update_id(), JOY.chat_id, "Joy here, hello!", reply_to=1)
    )

    assert rasa_api.is_paused(participant.sender_id)
    assert sms_texts(twilio_api, PARTICIPANT_PHONE) == [
        *wording("handoff_started", staff_name="Nurse Joy"),
        "Joy here, hello!",
    ]


async def test_only_one_staff_member_has_a_conversation(
    channels, staff: dict[str, StaffUser], clock, rasa_api, telegram_api, twilio_api
) -> None:
    participant = enroll_sms()
    raised = await alert(clock, participant)
    await channels.text(JOY.phone, f"TAKE {raised.ack_code}")
    await channels.text(BOB.phone, f"TAKE {raised.ack_code}")
    await channels.text(BOB.phone, "Bob here")

    assert sms_texts(twilio_api, BOB.phone)[0] == "Nurse Joy is already talking with P-001."
    assert "Bob here" not in sms_texts(twilio_api, PARTICIPANT_PHONE)
    assert len(handoffs()) == 1


async def test_if_the_assistant_cannot_be_paused_nobody_takes_over(
    channels, staff: dict[str, StaffUser], clock, rasa_api, twilio_api
) -> None:
    participant = enroll_sms()
    raised = await alert(clock, participant)
    rasa_api.down()
    await channels.text(JOY.phone, f"TAKE {raised.ack_code}")

    assert handoffs() == []
    assert sms_texts(twilio_api, PARTICIPANT_PHONE) == []
    assert sms_texts(twilio_api, JOY.phone)[-1].startswith(
        "The assistant could not be paused: Rasa answered HTTP 500."
    )


async def test_if_the_assistant_cannot_be_resumed_the_handoff_stays(
    channels, staff: dict[str, StaffUser], clock, rasa_api, twilio_api
) -> None:
    participant = enroll_sms()
    raised = await alert(clock, participant)
    await channels.text(JOY.phone, f"TAKE {raised.ack_code}")
    rasa_api.down()
    await channels.text(JOY.phone, "DONE")

    [handoff] = handoffs()
    assert handoff.ended_at is None
    assert sms_texts(twilio_api, JOY.phone)[-1].startswith("The assistant could not be resumed")
    rasa_api.up()
    await channels.text(JOY.phone, "done")
    assert not rasa_api.is_paused(participant.sender_id)


async def test_staff_text_without_a_conversation_gets_help(
    channels, staff: dict[str, StaffUser], twilio_api
) -> None:
    await channels.text(JOY.phone, "hello?")

    assert sms_texts(twilio_api, JOY.phone)[0].startswith(
        "You are not talking with any participant now."
    )


async def test_the_participant_messages_are_in_the_log_for_the_console(
    channels, staff: dict[str, StaffUser], clock, rasa_api
) -> None:
    participant = enroll_sms()
    raised = await alert(clock, participant)
    await channels.text(JOY.phone, f"TAKE {raised.ack_code}")
    await channels.text(PARTICIPANT_PHONE, WORDS)

    with session_scope() as session:
        inbound = session.execute(
            select(MessageLog.text).where(
                MessageLog.sender_id == participant.sender_id,
                MessageLog.direction == Direction.INBOUND,
            )
        ).scalars()
        assert WORDS in list(inbound)
