"""A participant enrolled with the CLI gets their first check-in prompt at their local time,
by SMS, and the conversation goes on over SMS: the real assistant (trained model, action
server), the outreach worker on a controlled clock, and the stand-in Twilio API.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bot.clients.rasa_http import RasaHttpApi
from bot.core.settings import PROJECT_ROOT, get_settings
from bot.outreach.channels import channel_clients, close_clients
from bot.outreach.worker import OutreachWorker
from bot.study.wording import messages
from tests.handoff.test_stack import (  # noqa: F401 - fixtures used by name
    FROM,
    STUDY,
    TOKEN,
    Running,
    assistant,
    stack_database,
    wait_for,
)

pytestmark = pytest.mark.slow

PHONE = "+15555550188"
CHICAGO = ZoneInfo("America/Chicago")


def next_local(hour: int, after: datetime) -> datetime:
    """The next `hour`:00 in Chicago after a moment, in UTC."""
    local = after.astimezone(CHICAGO).replace(hour=hour, minute=0, second=0, microsecond=0)
    if local <= after:
        local += timedelta(days=1)
    return local.astimezone(timezone.utc)


def texts_to(stack: Running, phone: str) -> list[str]:
    """Every SMS the stand-in Twilio API took for one phone, in order."""
    return [m["Body"] for m in stack.twilio.messages if m["To"] == phone]


def text_from(stack: Running, phone: str, body: str) -> None:
    """The participant texts the study: a webhook signed the way Twilio signs it."""
    params = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "From": phone,
        "To": FROM,
        "Body": body,
        "NumMedia": "0",
    }
    url = f"{stack.settings.rasa_url}/webhooks/twilio/webhook"
    signature = RequestValidator(stack.twilio.auth_token).compute_signature(url, params)
    httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}).raise_for_status()


async def test_cli_enrolled_participant_gets_the_prompt_at_local_time_and_answers_by_sms(
    assistant: Running,  # noqa: F811 - the fixture imported above
) -> None:
    enrolled = subprocess.run(  # noqa: S603 - our own CLI
        [
            sys.executable, "-m", "bot.cli", "enroll", "--study-id", "P-CLI-1",
            "--phone", PHONE, "--tz", "America/Chicago", "--checkin-time", "18:30",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": assistant.url},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    due = next_local(18, datetime.now(timezone.utc)) + timedelta(minutes=30)
    moments = iter([due - timedelta(hours=2), due, due + timedelta(seconds=5)])
    now = [next(moments)]
    clients = channel_clients(get_settings())
    worker = OutreachWorker(
        rasa=RasaHttpApi(assistant.settings.rasa_url, TOKEN), clients=clients, clock=lambda: now[0]
    )
    try:
        await worker.tick()  # 16:30 local: planned, nothing sent yet
        assert texts_to(assistant, PHONE) == []

        now[0] = next(moments)  # 18:30 local
        await worker.tick()
    finally:
        await close_clients(clients)

    prompt = wait_for(lambda: texts_to(assistant, PHONE))
    assert prompt[0] == messages(STUDY, "checkin_prompt")[0]
    question = wait_for(lambda: texts_to(assistant, PHONE)[1:])[0]
    assert question.startswith(messages(STUDY, "ask_checkin_feeling")[0])
    assert "Reply 1 for Very bad" in question

    text_from(assistant, PHONE, "4")

    follow_up = wait_for(lambda: texts_to(assistant, PHONE)[2:])[0]
    assert follow_up.startswith(messages(STUDY, "ask_checkin_new_problem")[0])
    assert "Reply 1 for Yes, 2 for No" in follow_up
