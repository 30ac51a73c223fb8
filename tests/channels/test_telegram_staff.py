"""The Telegram channel's staff hook: the Acknowledge button, `ACK <code>`, group chats.

The channel is served as Rasa serves it, with the stand-in Bot API; alerts go out through
the real alert worker, so the buttons pressed are the ones it sent. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.alerts.worker import AlertWorker
from bot.core.settings import get_settings
from bot.db.models import Escalation, EscalationStatus, StaffUser
from bot.db.session import session_scope
from bot.escalation.queue import queue_entry, resolve
from bot.study.config import current_study
from tests.alerts.support import (
    GROUP_CHAT,
    PUBLIC_URL,
    STAFF,
    FakeClock,
    alert_env,
    clock,
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
from tests.handoff.servers import Channels, group_callback, serve_channels
from tests.staff.conftest import fast_password_hashing
from tests.stand_ins.telegram_api import callback_update, message_update

__all__ = [
    "alert_env",
    "clock",
    "fast_password_hashing",
    "rasa_api",
    "staff",
    "telegram_api",
    "twilio_api",
]

JOY, BOB, CARA = STAFF["joy"], STAFF["bob"], STAFF["cara"]


@pytest.fixture
async def channels(
    alert_env: str, rasa_api: RasaConversationsStandIn, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Channels]:
    async for served in serve_channels(rasa_api, monkeypatch):
        yield served


@pytest.fixture
async def alerted(staff: dict[str, StaffUser], clock: FakeClock) -> Escalation:
    """An urgent escalation for P-001 whose alert went to Joy and the staff group."""
    raised = raise_for(enroll_sms())
    await AlertWorker.from_settings(get_settings(), clock=clock).run_once()
    return raised


async def test_the_acknowledge_button_acknowledges_it(channels, alerted, telegram_api) -> None:
    assert "alert #" in telegram_texts(telegram_api, JOY.chat_id)[0]
    # The alert is the first message in Joy's chat: the stand-in gives it message ID 1.
    update = callback_update(
        channels.next_update_id(), JOY.chat_id, f"ack:{alerted.id}", message_id=1
    )
    reply = await channels.update(update)

    assert reply.json() == {"status": "received"}
    stored = escalation(alerted.id)
    assert (stored.status, stored.acknowledged_by) == (EscalationStatus.ACKNOWLEDGED, "joy")
    assert len(telegram_api.calls("answerCallbackQuery")) == 1
    assert telegram_texts(telegram_api, JOY.chat_id)[-1] == (
        f"Acknowledged: urgent alert #{alerted.id} (P-001). "
        f"Open: {PUBLIC_URL}/console/escalations/{alerted.id}"
    )
    with session_scope() as session:
        entry = queue_entry(session=session, study=current_study(), escalation_id=alerted.id)
        assert entry is not None and entry.acknowledged_by_name == "Nurse Joy"
    assert channels.agent.received == []


async def test_a_press_in_the_staff_group_acknowledges_and_everyone_hears(
    channels, alerted, clock, telegram_api, twilio_api
) -> None:
    update = group_callback(
        channels.next_update_id(), int(GROUP_CHAT), BOB.chat_id, f"ack:{alerted.id}", message_id=1
    )
    await channels.update(update)
    assert escalation(alerted.id).acknowledged_by == "bob"
    assert len(telegram_texts(telegram_api, GROUP_CHAT)) == 1  # the worker tells the group

    await AlertWorker.from_settings(get_settings(), clock=clock).run_once()

    notice = f"Acknowledged by Dr Bob: URGENT alert #{alerted.id} (P-001)."
    assert telegram_texts(telegram_api, GROUP_CHAT)[-1].startswith(notice)
    assert telegram_texts(telegram_api, JOY.chat_id)[-1].startswith(notice)
    assert sms_texts(twilio_api, JOY.phone)[-1].startswith(notice)


async def test_a_late_press_is_told_who_has_it(channels, alerted, telegram_api) -> None:
    await channels.update(
        group_callback(
            channels.next_update_id(),
            int(GROUP_CHAT),
            BOB.chat_id,
            f"ack:{alerted.id}",
            message_id=1,
        )
    )
    await channels.update(
        group_callback(
            channels.next_update_id(),
            int(GROUP_CHAT),
            CARA.chat_id,
            f"ack:{alerted.id}",
            message_id=1,
        )
    )

    assert escalation(alerted.id).acknowledged_by == "bob"
    assert telegram_texts(telegram_api, GROUP_CHAT)[-1] == (
        f"Already acknowledged by Dr Bob: urgent alert #{alerted.id} (P-001)."
    )


async def test_a_press_after_it_was_resolved_in_the_console_says_so(
    channels, alerted, telegram_api
) -> None:
    with session_scope() as session:
        resolve(session=session, escalation_id=alerted.id, actor="cara", note="called her")
    await channels.update(
        callback_update(channels.next_update_id(), JOY.chat_id, f"ack:{alerted.id}", message_id=1)
    )

    assert escalation(alerted.id).acknowledged_by == "cara"
    assert telegram_texts(telegram_api, JOY.chat_id)[-1] == (
        f"Already resolved by Cara Coordinator: urgent alert #{alerted.id} (P-001)."
    )


async def test_a_press_from_someone_not_on_staff_does_nothing(
    channels, alerted, telegram_api
) -> None:
    stranger = 9990001
    reply = await channels.update(
        group_callback(
            channels.next_update_id(), int(GROUP_CHAT), stranger, f"ack:{alerted.id}", message_id=1
        )
    )

    assert reply.json() == {"status": "ignored"}
    assert escalation(alerted.id).status is EscalationStatus.OPEN


async def test_ack_code_typed_in_telegram(channels, alerted, telegram_api) -> None:
    await channels.update(
        message_update(channels.next_update_id(), JOY.chat_id, f"ACK {alerted.ack_code}")
    )

    assert escalation(alerted.id).acknowledged_by == "joy"
    assert telegram_texts(telegram_api, JOY.chat_id)[-1].startswith("Acknowledged: urgent alert")


async def test_a_retried_staff_update_is_handled_once(channels, alerted, telegram_api) -> None:
    update = callback_update(
        channels.next_update_id(), JOY.chat_id, f"ack:{alerted.id}", message_id=1
    )
    await channels.update(update)
    second = await channels.update(update)

    assert second.json() == {"status": "duplicate"}
    assert len(telegram_api.calls("answerCallbackQuery")) == 1


async def test_staff_chatting_in_the_group_is_left_alone(channels, alerted, telegram_api) -> None:
    sent_before = len(telegram_api.calls("sendMessage"))
    update = message_update(
        channels.next_update_id(), int(GROUP_CHAT), "who is on tonight?", chat_type="supergroup"
    )
    update["message"]["from"]["id"] = JOY.chat_id
    await channels.update(update)

    assert len(telegram_api.calls("sendMessage")) == sent_before
    assert channels.agent.received == []
