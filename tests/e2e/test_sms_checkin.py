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


async def enroll_and_prompt(stack: Running, study_id: str, phone: str, *extra: str) -> None:
    """Enroll with the CLI (check-ins at 18:30 Chicago time), then run the outreach worker on
    a clock at 16:30 (nothing due) and at 18:30 (the prompt goes out)."""
    enrolled = subprocess.run(  # noqa: S603 - our own CLI
        [
            sys.executable, "-m", "bot.cli", "enroll", "--study-id", study_id,
            "--phone", phone, "--tz", "America/Chicago", "--checkin-time", "18:30", *extra,
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": stack.url},
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
        rasa=RasaHttpApi(stack.settings.rasa_url, TOKEN), clients=clients, clock=lambda: now[0]
    )
    try:
        await worker.tick()  # 16:30 local: planned, nothing sent yet
        assert texts_to(stack, phone) == []

        now[0] = next(moments)  # 18:30 local
        await worker.tick()
    finally:
        await close_clients(clients)


async def test_cli_enrolled_participant_gets_the_prompt_at_local_time_and_answers_by_sms(
    assistant: Running,  # noqa: F811 - the fixture imported above
) -> None:
    await enroll_and_prompt(assistant, "P-CLI-1", PHONE)

    prompt = wait_for(lambda: texts_to(assistant, PHONE))
    assert prompt[0] == messages(STUDY, "checkin_prompt")[0]
    question = wait_for(lambda: texts_to(assistant, PHONE)[1:])[0]
    assert question.startswith(messages(STUDY, "ask_checkin_feeling")[0])
    assert "Reply 1 for Very bad" in question

    text_from(assistant, PHONE, "4")

    follow_up = wait_for(lambda: texts_to(assistant, PHONE)[2:])[0]
    assert follow_up.startswith(messages(STUDY, "ask_checkin_new_problem")[0])
    assert "Reply 1 for Yes, 2 for No" in follow_up


async def test_a_spanish_participant_is_prompted_in_spanish_answers_in_spanish_and_can_stop(
    assistant: Running,  # noqa: F811 - the fixture imported above
) -> None:
    phone = "+15555550189"
    await enroll_and_prompt(assistant, "P-CLI-ES", phone, "--language", "es")

    def spanish(key: str) -> str:
        return messages(STUDY, key, language="es")[0]

    prompt = wait_for(lambda: texts_to(assistant, phone))
    assert prompt[0] == spanish("checkin_prompt")
    question = wait_for(lambda: texts_to(assistant, phone)[1:])[0]
    assert question.startswith(spanish("ask_checkin_feeling"))
    assert "Responda 1 para " in question

    text_from(assistant, phone, "bien")  # a Spanish word of the feeling scale

    follow_up = wait_for(lambda: texts_to(assistant, phone)[2:])[0]
    assert follow_up.startswith(spanish("ask_checkin_new_problem"))
    assert "Responda 1 para Sí, 2 para No" in follow_up

    text_from(assistant, phone, "no")  # in words, as they would say it
    medicine = wait_for(lambda: texts_to(assistant, phone)[3:])[0]
    assert medicine.startswith(spanish("ask_checkin_medicine"))

    text_from(assistant, phone, "PARAR")

    confirmation = wait_for(lambda: texts_to(assistant, phone)[4:])
    assert confirmation == messages(STUDY, "sms_opted_out", language="es")
