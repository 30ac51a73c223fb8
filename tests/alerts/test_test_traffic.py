"""Test traffic pages nobody: a web-chat participant's escalations get console rows only.

Web-chat visitors are test traffic (`participants.is_test`): whatever the level and the
round, the alert worker plans no SMS and no Telegram delivery for them, while the console
queue still shows each one. Runs on SQLite and PostgreSQL against the stand-in APIs.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.alerts.planning import CONSOLE_TARGET, Target, for_participant
from bot.alerts.worker import AlertWorker
from bot.core.settings import get_settings
from bot.db.models import AlertChannel, EscalationLevel, Participant, StaffUser
from bot.db.repository import ensure_web_participant
from bot.db.session import session_scope
from tests.alerts.support import FakeClock, deliveries, enroll_sms, raise_for
from tests.stand_ins.telegram_api import TelegramApiStandIn
from tests.stand_ins.twilio_api import TwilioApiStandIn


@pytest.fixture
def visitor(staff: dict[str, StaffUser]) -> Participant:
    """A web-chat visitor, with the study team (phones and Telegram chats) in place."""
    with session_scope() as session:
        return ensure_web_participant(session=session, sender_id="web-visitor-01")


def test_a_web_chat_participant_is_test_traffic(visitor: Participant) -> None:
    assert visitor.is_test
    assert not enroll_sms().is_test


def test_test_traffic_keeps_only_the_console_rows() -> None:
    on_console = Target(AlertChannel.CONSOLE, "staff:joy", 1)
    targets = [
        CONSOLE_TARGET,
        on_console,
        Target(AlertChannel.SMS, "staff:joy", 1),
        Target(AlertChannel.TELEGRAM, "group chat"),
    ]

    assert for_participant(targets, is_test=True) == [CONSOLE_TARGET, on_console]
    assert for_participant(targets, is_test=False) == targets


@pytest.mark.parametrize("level", list(EscalationLevel))
async def test_a_visitors_escalation_pages_nobody_in_any_round(
    visitor: Participant,
    level: EscalationLevel,
    clock: FakeClock,
    telegram_api: TelegramApiStandIn,
    twilio_api: TwilioApiStandIn,
) -> None:
    raised = raise_for(visitor, level, reason="red flag: chest pain")
    alerts = AlertWorker.from_settings(get_settings(), clock=clock)

    await alerts.run_once()
    for minutes in (60, 120, 180):  # past every re-escalation of every level
        clock.now = raised.created_at + timedelta(minutes=minutes)
        await alerts.run_once()
    await alerts.finish()

    rows = deliveries(raised.id)
    assert rows and {row.channel for row in rows} == {AlertChannel.CONSOLE}
    assert telegram_api.requests == [] and twilio_api.requests == []


async def test_a_real_participants_escalation_still_pages_staff(
    visitor: Participant,
    clock: FakeClock,
    telegram_api: TelegramApiStandIn,
    twilio_api: TwilioApiStandIn,
) -> None:
    raised = raise_for(enroll_sms(), EscalationLevel.EMERGENCY)

    await AlertWorker.from_settings(get_settings(), clock=clock).run_once()

    channels = {row.channel for row in deliveries(raised.id)}
    assert channels == {AlertChannel.CONSOLE, AlertChannel.SMS, AlertChannel.TELEGRAM}
