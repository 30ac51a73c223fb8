"""A participant enrolled with the CLI gets their first check-in prompt at their local time,
by SMS, and the conversation goes on over SMS: the real assistant (trained model, action
server), the outreach worker on a controlled clock, and the stand-in Twilio API.

The worker sends the opening of a check-in itself and Rasa runs the check-in's turn later
(bot.outreach.deferred): each test runs once with the worker running that turn right
after its sends, and once with the Rasa server running it when the participant answers
first. Either way the turn must say exactly what was sent.
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
from bot.db.models import DeferredTurn, Participant
from bot.db.session import session_scope
from bot.outreach import deferred
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

PHONES = {"worker": "+15555550188", "rasa-server": "+15555550187"}
SPANISH_PHONES = {"worker": "+15555550189", "rasa-server": "+15555550186"}
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


# Who runs the check-in's turn in Rasa: the worker right after its sends, or the Rasa
# server before the participant's answer.
RUNNERS = ("worker", "rasa-server")


def turn_statuses(stack: Running, study_id: str) -> list[str]:
    """The statuses of the deferred turns of a participant's prompts (bot.outreach.deferred)."""
    with session_scope(stack.url) as session:
        participant = session.query(Participant).filter_by(study_id=study_id).one()
        return [
            row.status
            for row in session.query(DeferredTurn)
            .filter_by(participant_id=participant.id)
            .order_by(DeferredTurn.id)
        ]


async def enroll_and_prompt(
    stack: Running, study_id: str, phone: str, *extra: str, runner: str = "worker"
) -> None:
    """Enroll with the CLI (check-ins at 18:30 Chicago time), then run the outreach worker on
    a clock at 16:30 (nothing due) and at 18:30 (the prompt goes out). `runner`: who runs
    the check-in's turn in Rasa (RUNNERS)."""
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
        rasa=RasaHttpApi(stack.settings.rasa_url, TOKEN),
        clients=clients,
        clock=lambda: now[0],
        catch_up_seconds=20.0 if runner == "worker" else 0.0,
    )
    try:
        await worker.tick()  # 16:30 local: planned, nothing sent yet
        assert texts_to(stack, phone) == []

        now[0] = next(moments)  # 18:30 local
        await worker.tick()
    finally:
        await close_clients(clients)


@pytest.mark.parametrize("runner", RUNNERS)
async def test_cli_enrolled_participant_gets_the_prompt_at_local_time_and_answers_by_sms(
    assistant: Running,  # noqa: F811 - the fixture imported above
    runner: str,
) -> None:
    study_id, phone = f"P-CLI-1-{runner}", PHONES[runner]
    await enroll_and_prompt(assistant, study_id, phone, runner=runner)
    assert turn_statuses(assistant, study_id) == [
        deferred.DONE if runner == "worker" else deferred.PENDING
    ]

    prompt = wait_for(lambda: texts_to(assistant, phone))
    assert prompt[0] == messages(STUDY, "checkin_prompt")[0]
    question = wait_for(lambda: texts_to(assistant, phone)[1:])[0]
    assert question.startswith(messages(STUDY, "ask_checkin_feeling")[0])
    assert "Reply 1 for Very bad" in question

    text_from(assistant, phone, "4")

    follow_up = wait_for(lambda: texts_to(assistant, phone)[2:])[0]
    assert follow_up.startswith(messages(STUDY, "ask_checkin_new_problem")[0])
    assert "Reply 1 for Yes, 2 for No" in follow_up
    # Rasa's own turn said exactly the opening the worker sent (not "differs").
    assert turn_statuses(assistant, study_id) == [deferred.DONE]
    assert len(texts_to(assistant, phone)) == 3  # nothing sent twice


@pytest.mark.parametrize("runner", RUNNERS)
async def test_a_spanish_participant_is_prompted_in_spanish_answers_in_spanish_and_can_stop(
    assistant: Running,  # noqa: F811 - the fixture imported above
    runner: str,
) -> None:
    study_id, phone = f"P-CLI-ES-{runner}", SPANISH_PHONES[runner]
    await enroll_and_prompt(assistant, study_id, phone, "--language", "es", runner=runner)

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
    assert turn_statuses(assistant, study_id) == [deferred.DONE]

    text_from(assistant, phone, "no")  # in words, as they would say it
    medicine = wait_for(lambda: texts_to(assistant, phone)[3:])[0]
    assert medicine.startswith(spanish("ask_checkin_medicine"))

    text_from(assistant, phone, "PARAR")

    confirmation = wait_for(lambda: texts_to(assistant, phone)[4:])
    assert confirmation == messages(STUDY, "sms_opted_out", language="es")
