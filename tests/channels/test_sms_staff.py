"""The SMS channel's staff hook: `ACK <code>` and friends from a staff member's phone.

The channel is served as Rasa serves it, with signed webhooks and the stand-in Twilio API;
alerts go out through the real alert worker. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.alerts.worker import AlertWorker
from bot.core.settings import get_settings
from bot.db.models import AuditEvent, Escalation, EscalationStatus, MessageLog, StaffUser
from bot.db.session import session_scope
from bot.escalation.queue import acknowledge, queue_entry
from bot.study.config import current_study
from bot.study.wording import messages
from tests.alerts.support import (
    GROUP_CHAT,
    PARTICIPANT_PHONE,
    PUBLIC_URL,
    STAFF,
    alert_env,
    clock,
    deliveries,
    enroll_sms,
    escalation,
    raise_for,
    rasa_api,
    sms_texts,
    staff,
    telegram_api,
    telegram_texts,
    twilio_api,
)
from tests.handoff.rasa_conversations import RasaConversationsStandIn
from tests.handoff.servers import Channels, serve_channels
from tests.staff.conftest import fast_password_hashing

__all__ = [
    "alert_env",
    "clock",
    "fast_password_hashing",
    "rasa_api",
    "staff",
    "telegram_api",
    "twilio_api",
]

JOY, BOB, RITA = STAFF["joy"], STAFF["bob"], STAFF["rita"]
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


@pytest.fixture
async def channels(
    alert_env: str, rasa_api: RasaConversationsStandIn, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Channels]:
    async for served in serve_channels(rasa_api, monkeypatch):
        yield served


@pytest.fixture
def raised(staff: dict[str, StaffUser]) -> Escalation:
    """An open urgent escalation for P-001, an SMS participant."""
    return raise_for(enroll_sms())


def acknowledged_by_name(escalation_id: int) -> str | None:
    """Who the console shows as having acknowledged it."""
    with session_scope() as session:
        entry = queue_entry(session=session, study=current_study(), escalation_id=escalation_id)
        assert entry is not None
        return entry.acknowledged_by_name


async def test_ack_code_from_a_staff_phone_acknowledges_it(channels, raised, twilio_api) -> None:
    reply = await channels.text(JOY.phone, f" ack {raised.ack_code.lower()} ")

    assert reply.status_code == 200
    assert reply.text == EMPTY_TWIML
    stored = escalation(raised.id)
    assert (stored.status, stored.acknowledged_by) == (EscalationStatus.ACKNOWLEDGED, "joy")
    assert acknowledged_by_name(raised.id) == "Nurse Joy"  # the console shows it
    assert sms_texts(twilio_api, JOY.phone) == [
        f"Acknowledged: urgent alert #{raised.id} (P-001). "
        f"Open: {PUBLIC_URL}/console/escalations/{raised.id}"
    ]
    assert channels.agent.received == []  # never reaches the assistant
    with session_scope() as session:
        [event] = session.execute(
            select(AuditEvent).where(AuditEvent.action == "escalation.acknowledge")
        ).scalars()
        assert (event.actor, event.detail) == (
            "joy",
            "acknowledged via sms; status: open -> acknowledged",
        )


async def test_a_second_acknowledgement_is_told_who_has_it(channels, raised, twilio_api) -> None:
    await channels.text(JOY.phone, f"ACK {raised.ack_code}")
    await channels.text(BOB.phone, f"ACK {raised.ack_code}")

    assert escalation(raised.id).acknowledged_by == "joy"
    assert sms_texts(twilio_api, BOB.phone) == [
        f"Already acknowledged by Nurse Joy: urgent alert #{raised.id} (P-001)."
    ]


async def test_a_wrong_code_acknowledges_nothing(channels, raised, twilio_api) -> None:
    await channels.text(JOY.phone, "ACK ZZZZ22")

    assert escalation(raised.id).status is EscalationStatus.OPEN
    assert sms_texts(twilio_api, JOY.phone) == [
        "No alert has the code ZZZZ22. Please check it and try again."
    ]


async def test_an_unknown_number_gets_nothing_acknowledged(channels, raised, twilio_api) -> None:
    reply = await channels.text("+15555550999", f"ACK {raised.ack_code}")

    assert escalation(raised.id).status is EscalationStatus.OPEN
    assert messages(current_study(), "unknown_sender")[0] in reply.text
    assert twilio_api.messages == []


async def test_a_participant_texting_ack_reaches_the_assistant(
    channels, raised, twilio_api
) -> None:
    await channels.text(PARTICIPANT_PHONE, f"ACK {raised.ack_code}")

    assert escalation(raised.id).status is EscalationStatus.OPEN
    assert [message.text for message in channels.agent.received] == [f"ACK {raised.ack_code}"]


async def test_a_researcher_cannot_acknowledge(channels, raised, twilio_api) -> None:
    await channels.text(RITA.phone, f"ACK {raised.ack_code}")

    assert escalation(raised.id).status is EscalationStatus.OPEN
    assert sms_texts(twilio_api, RITA.phone) == ["Your account cannot act on alerts."]


async def test_staff_texts_are_logged_under_the_staff_member_not_their_number(
    channels, raised, staff
) -> None:
    await channels.text(JOY.phone, f"ACK {raised.ack_code}")

    with session_scope() as session:
        [entry] = session.execute(
            select(MessageLog).where(MessageLog.text == f"ACK {raised.ack_code}")
        ).scalars()
        assert entry.sender_id == f"staff-{staff['joy'].id}"
        assert entry.participant_id is None


async def test_staff_help(channels, staff, twilio_api) -> None:
    await channels.text(JOY.phone, "help")

    [answer] = sms_texts(twilio_api, JOY.phone)
    assert answer.startswith("Staff commands: ACK <code> acknowledges an alert")


async def test_an_sms_acknowledgement_shows_on_telegram_and_stops_re_escalation(
    channels, raised, clock, telegram_api, twilio_api
) -> None:
    worker = AlertWorker.from_settings(get_settings(), clock=clock)
    await worker.run_once()
    await channels.text(JOY.phone, f"ACK {raised.ack_code}")
    await worker.run_once()
    clock.now = raised.created_at + timedelta(hours=1)
    await worker.run_once()

    assert telegram_texts(telegram_api, GROUP_CHAT)[-1].startswith(
        "Acknowledged by Nurse Joy: URGENT alert"
    )
    assert {row.round for row in deliveries(raised.id)} == {0}
    assert telegram_texts(telegram_api, BOB.chat_id) == []


async def test_a_console_acknowledgement_is_reported_to_a_late_sms(
    channels, raised, twilio_api
) -> None:
    with session_scope() as session:
        acknowledge(session=session, escalation_id=raised.id, actor="bob", via="console")
    await channels.text(JOY.phone, f"ACK {raised.ack_code}")

    assert sms_texts(twilio_api, JOY.phone) == [
        f"Already acknowledged by Dr Bob: urgent alert #{raised.id} (P-001)."
    ]
