"""Alerts and handoffs on the whole assistant, running for real (trained model, action
server, web app, alert worker), with the stand-in Twilio and Telegram APIs.

The emergency check of a paused conversation needs the real Rasa server: while a
conversation is paused Rasa predicts no action, so only the channel layer
(bot.safety.turn_guard) can answer "crushing chest pain". Also the issue's "Done
means", end to end: an urgent report reaches the console at once, staff take over from
it, chat with the participant on the chat page, and hand back.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.clients.rasa_http import RasaHttpApi
from bot.core.settings import PROJECT_ROOT, Settings, get_settings
from bot.db.models import (
    AlertChannel,
    AlertDelivery,
    Channel,
    Escalation,
    EscalationLevel,
    EscalationStatus,
    EscalationType,
    StaffRole,
)
from bot.db.session import migrate, session_scope
from bot.participants.enrollment import enroll, link_telegram_chat
from bot.staff.audit import SYSTEM_ACTOR
from bot.staff.auth import create_user
from bot.study.config import load_study_config
from bot.study.wording import messages
from tests.conftest import EXAMPLE_STUDY
from tests.e2e.conftest import free_port
from tests.stand_ins.stack import StartError, running
from tests.stand_ins.telegram_api import TelegramApiStandIn, message_update
from tests.stand_ins.twilio_api import TwilioApiStandIn

pytestmark = pytest.mark.slow

STUDY = load_study_config(EXAMPLE_STUDY)
TOKEN = "handoff-stack-token"
PHONE = "+15555550177"
TELEGRAM_CHAT = 424242
TELEGRAM_SECRET = "telegram-webhook-secret-of-32-characters"
FROM = "+15555550100"
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
EMERGENCY = f"Call {STUDY.emergency_number} now"
T = TypeVar("T")


@dataclass(frozen=True)
class Running:
    """The running assistant, its database and the stand-in Twilio API it sends SMS to."""

    settings: Settings
    web_url: str
    twilio: TwilioApiStandIn
    telegram: TelegramApiStandIn

    @property
    def url(self) -> str:
        return self.settings.database_url

    def chat(self, sender: str, text: str) -> list[str]:
        reply = httpx.post(
            f"{self.web_url}/api/chat", json={"sender": sender, "message": text}, timeout=60
        )
        reply.raise_for_status()
        return [message["text"] for message in reply.json()["messages"] if message.get("text")]

    def updates(self, sender: str) -> list[str]:
        reply = httpx.get(f"{self.web_url}/api/chat/updates", params={"sender": sender})
        reply.raise_for_status()
        return [message["text"] for message in reply.json()["messages"]]

    def sms(self, body: str) -> None:
        """The participant texts the study (a webhook signed as Twilio signs it)."""
        sid = "SM" + secrets.token_hex(16)
        params = {"MessageSid": sid, "From": PHONE, "To": FROM, "Body": body, "NumMedia": "0"}
        url = f"{self.settings.rasa_url}/webhooks/twilio/webhook"
        signature = RequestValidator(self.twilio.auth_token).compute_signature(url, params)
        reply = httpx.post(url, data=params, headers={"X-Twilio-Signature": signature})
        reply.raise_for_status()

    def telegram_message(self, update_id: int, text: str) -> None:
        """The Telegram participant writes (a webhook call with the secret token)."""
        reply = httpx.post(
            f"{self.settings.rasa_url}/webhooks/telegram/webhook",
            json=message_update(update_id, TELEGRAM_CHAT, text),
            headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
        )
        reply.raise_for_status()

    def telegram_to_participant(self) -> list[str]:
        return [
            str(call.params.get("text"))
            for call in self.telegram.calls("sendMessage")
            if str(call.params.get("chat_id")) == str(TELEGRAM_CHAT)
        ]

    def sms_to_participant(self) -> list[str]:
        return [message["Body"] for message in self.twilio.messages if message["To"] == PHONE]

    def rasa(self) -> RasaHttpApi:
        return RasaHttpApi(self.settings.rasa_url, TOKEN)


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The whole assistant with SMS on the stand-in, a staff user and an SMS participant."""
    model = PROJECT_ROOT / "models" / "trialbot.tar.gz"
    if not model.exists():
        pytest.fail(f"no trained model at {model}: run `make train` first")
    data_dir: Path = tmp_path_factory.mktemp("handoff-stack")
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'trialbot.db'}",
        rasa_port=free_port(),
        actions_port=free_port(),
        web_port=free_port(),
        # Many conversations from one address (this machine): no per-address chat limits.
        chat_rate_limit="",
        chat_new_sender_limit="",
        rasa_api_token=TOKEN,
    )
    with (
        TwilioApiStandIn() as twilio,
        TelegramApiStandIn() as telegram,
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv("ENCRYPTION_KEY", Fernet.generate_key().decode())
        env.setenv("SECRET_KEY", secrets.token_urlsafe(32))
        env.setenv("TELEGRAM_BOT_TOKEN", telegram.token)
        env.setenv("TELEGRAM_WEBHOOK_SECRET", TELEGRAM_SECRET)
        env.setenv("TELEGRAM_API_BASE_URL", telegram.base_url)
        env.setenv("TELEGRAM_WEBHOOK_BASE_URL", settings.rasa_url)
        env.setenv("TWILIO_ACCOUNT_SID", twilio.account_sid)
        env.setenv("TWILIO_AUTH_TOKEN", twilio.auth_token)
        env.setenv("TWILIO_FROM_NUMBER", FROM)
        env.setenv("TWILIO_API_BASE_URL", twilio.base_url)
        env.setenv("TWILIO_WEBHOOK_BASE_URL", settings.rasa_url)
        for name in ("PUBLIC_BASE_URL", "DATABASE_URL", "DATA_DIR"):
            env.delenv(name, raising=False)
        # Enrolment below hashes the phone with ENCRYPTION_KEY from the settings: never with
        # settings cached before these variables were set (an earlier module's, in this
        # process), or the server would not know the participant's number.
        get_settings.cache_clear()
        migrate(settings.database_url)
        with session_scope(settings.database_url) as session:
            create_user(
                session=session,
                actor=SYSTEM_ACTOR,
                username="joy",
                display_name="Nurse Joy",
                role=StaffRole.STAFF,
                password=PASSWORD,
            )
            enroll(
                session=session,
                study=STUDY,
                study_id="P-777",
                channel=Channel.SMS,
                timezone_name="America/Chicago",
                phone=PHONE,
            )
            code = enroll(
                session=session,
                study=STUDY,
                study_id="P-778",
                channel=Channel.TELEGRAM,
                timezone_name="America/Chicago",
            ).enrollment_code
            assert code and link_telegram_chat(
                session=session, code=code, chat_id=str(TELEGRAM_CHAT)
            )
        try:
            with running(settings, data_dir / "logs"):
                yield Running(settings, f"http://127.0.0.1:{settings.web_port}", twilio, telegram)
        except StartError as error:
            pytest.fail(str(error))
        finally:
            get_settings.cache_clear()


@pytest.fixture(autouse=True)
def stack_database(assistant: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """This module's tests read and write the running assistant's database."""
    monkeypatch.setenv("DATABASE_URL", assistant.url)
    monkeypatch.setenv("DATA_DIR", str(assistant.settings.data_dir))
    get_settings.cache_clear()


def new_sender() -> str:
    return f"web-{secrets.token_hex(8)}"


def escalations_of(url: str, sender_id: str) -> list[Escalation]:
    from bot.db.models import Participant

    with session_scope(url) as session:
        return list(
            session.execute(
                select(Escalation)
                .join(Participant, Participant.id == Escalation.participant_id)
                .where(Participant.sender_id == sender_id)
                .order_by(Escalation.id)
            ).scalars()
        )


def wait_for(check: Callable[[], T], timeout: float = 10.0) -> T:
    """Poll until `check()` is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def csrf_in(page: str) -> str:
    """The CSRF token of a console page's form."""
    match = CSRF.search(page)
    assert match, "no CSRF field"
    return match.group(1)


class Console:
    """A signed-in staff member's browser."""

    def __init__(self, web_url: str, username: str) -> None:
        self.http = httpx.Client(base_url=web_url, follow_redirects=False, timeout=30)
        token = csrf_in(self.http.get("/console/sign-in").text)
        signed = self.http.post(
            "/console/sign-in",
            data={"username": username, "password": PASSWORD, "csrf_token": token, "next": ""},
        )
        assert signed.status_code == 303, signed.text
        self.csrf = csrf_in(self.http.get("/console/queue").text)

    def post(self, path: str) -> httpx.Response:
        return self.http.post(path, data={"csrf_token": self.csrf})


async def test_an_emergency_in_a_paused_web_chat_is_answered_and_alerted(
    assistant: Running,
) -> None:
    sender = new_sender()
    assistant.chat(sender, "hello")
    await assistant.rasa().pause(sender)
    assert assistant.chat(sender, "what is a placebo") == []  # paused: the assistant is quiet

    reply = assistant.chat(sender, "i have crushing chest pain")

    assert reply and reply[0].startswith(EMERGENCY)
    [emergency] = [e for e in escalations_of(assistant.url, sender)]
    assert (emergency.level, emergency.type) == (
        EscalationLevel.EMERGENCY,
        EscalationType.EMERGENCY,
    )
    assert emergency.reason == "red flag: chest pain"
    assert await assistant.rasa().is_paused(sender)  # still a person's conversation
    assert assistant.chat(sender, "no chest pain now, thanks") == []  # negation respected


async def test_self_harm_in_a_paused_conversation_gets_the_crisis_line(assistant: Running) -> None:
    sender = new_sender()
    assistant.chat(sender, "hi")
    await assistant.rasa().pause(sender)

    reply = " ".join(assistant.chat(sender, "i want to kill myself"))

    assert STUDY.crisis_line in reply
    assert len(escalations_of(assistant.url, sender)) == 1


async def test_an_emergency_in_a_paused_sms_conversation_is_answered_by_sms(
    assistant: Running,
) -> None:
    participant_sender = "sms-P-777"
    with session_scope(assistant.url) as session:
        from bot.db.repository import get_participant_by_study_id

        found = get_participant_by_study_id(session=session, study_id="P-777")
        assert found is not None
        participant_sender = found.sender_id
    await assistant.rasa().pause(participant_sender)

    assistant.sms("cant breathe at all")

    texts = wait_for(
        lambda: [text for text in assistant.sms_to_participant() if text.startswith(EMERGENCY)]
    )
    assert texts
    wait_for(lambda: escalations_of(assistant.url, participant_sender))
    [emergency] = escalations_of(assistant.url, participant_sender)
    assert emergency.level is EscalationLevel.EMERGENCY


def test_urgent_report_console_take_over_chat_and_hand_back(assistant: Running) -> None:
    sender = new_sender()
    assistant.chat(sender, "i threw up 3 times")
    assistant.chat(sender, "sometimes")
    sent_at = time.monotonic()
    assistant.chat(sender, "severe")  # vomiting graded severe: an urgent escalation

    [urgent] = wait_for(lambda: escalations_of(assistant.url, sender))
    assert urgent.level is EscalationLevel.URGENT

    def console_row() -> list[AlertDelivery]:
        with session_scope(assistant.url) as session:
            return list(
                session.execute(
                    select(AlertDelivery).where(
                        AlertDelivery.escalation_id == urgent.id,
                        AlertDelivery.channel == AlertChannel.CONSOLE,
                    )
                ).scalars()
            )

    wait_for(console_row, timeout=5)
    assert time.monotonic() - sent_at < 5
    console = Console(assistant.web_url, "joy")
    assert f"/console/escalations/{urgent.id}" in console.http.get("/console/queue").text

    assert console.post(f"/console/escalations/{urgent.id}/acknowledge").status_code == 303
    with session_scope(assistant.url) as session:
        stored = session.get(Escalation, urgent.id)
        assert stored is not None and stored.status is EscalationStatus.ACKNOWLEDGED

    taken = console.post(f"/console/escalations/{urgent.id}/take-over")
    assert taken.status_code == 303 and "/console/handoffs/" in taken.headers["location"]
    handoff_path = taken.headers["location"]
    handoff_id = handoff_path.rsplit("/", 1)[1]
    started = messages(STUDY, "handoff_started", staff_name="Nurse Joy")
    assert wait_for(lambda: assistant.updates(sender)) == started

    assert assistant.chat(sender, "hello? is someone there") == []
    polled = console.http.get(f"/console/api/handoffs/{handoff_id}/messages").json()
    assert "hello? is someone there" in [message["text"] for message in polled["messages"]]

    sent = console.http.post(
        f"/console/api/handoffs/{handoff_id}/messages",
        json={"text": "Hi, this is Joy from the study. I will call you now."},
        headers={"X-CSRF-Token": console.csrf},
    )
    assert sent.status_code == 200, sent.text
    assert assistant.updates(sender) == ["Hi, this is Joy from the study. I will call you now."]

    handed = console.post(f"/console/handoffs/{handoff_id}/hand-back")
    assert handed.status_code == 303
    ended = messages(STUDY, "handoff_ended", staff_name="Nurse Joy")
    assert assistant.updates(sender) == ended
    assert assistant.chat(sender, "what is a placebo") == STUDY.faq_answer("placebo")


def test_after_a_handoff_with_an_emergency_the_assistant_answers_every_message(
    assistant: Running,
) -> None:
    """The sequence that once went silent: a person takes over, an emergency while paused,
    hand back; then a question is answered once, and self-harm, chest pain and "hello?"
    each get their answer (the circuit breaker used to swallow them all)."""
    sender = new_sender()
    assistant.chat(sender, "hi")
    assistant.chat(sender, "i want to talk to a nurse")
    [handoff_request] = wait_for(lambda: escalations_of(assistant.url, sender))
    console = Console(assistant.web_url, "joy")
    taken = console.post(f"/console/escalations/{handoff_request.id}/take-over")
    handoff_id = taken.headers["location"].rsplit("/", 1)[1]

    breathing = assistant.chat(sender, "i cant breathe")
    assert breathing and breathing[0].startswith(EMERGENCY)
    assert console.post(f"/console/handoffs/{handoff_id}/hand-back").status_code == 303

    assert assistant.chat(sender, "what's a placebo") == STUDY.faq_answer("placebo")
    self_harm = " ".join(assistant.chat(sender, "i want to kill myself"))
    assert STUDY.crisis_line in self_harm
    chest = assistant.chat(sender, "crushing chest pain")
    assert chest and chest[0].startswith(EMERGENCY)
    assert assistant.chat(sender, "hello?")

    emergencies = [e for e in escalations_of(assistant.url, sender) if e.type.value == "emergency"]
    assert [e.reason for e in emergencies] == [
        "red flag: breathing",
        "red flag: self harm",
        "red flag: chest pain",
    ]


def test_no_secret_reaches_any_process_log(assistant: Running) -> None:
    """Every configured secret is kept out of the logs of all five processes, with
    participant replies sent over Telegram (its bot token is in the API's URL path) and
    SMS, and Rasa's API called with its token."""
    assistant.telegram_message(9001, "what is a placebo")
    assistant.sms("what is a placebo")
    wait_for(lambda: assistant.telegram_to_participant() or None, timeout=60)
    with httpx.Client() as client:
        client.get(f"{assistant.settings.rasa_url}/status", params={"token": TOKEN})
    time.sleep(1)  # let the processes write their lines

    settings = Settings()  # the secrets as the processes read them from the environment
    secrets_in_use = {
        name: value
        for name, value in {
            "RASA_API_TOKEN": TOKEN,
            "TELEGRAM_BOT_TOKEN": assistant.telegram.token,
            "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "TWILIO_AUTH_TOKEN": assistant.twilio.auth_token,
            "ENCRYPTION_KEY": settings.encryption_key,
            "SECRET_KEY": settings.secret_key,
        }.items()
        if value
    }
    assert len(secrets_in_use) == 6
    logs = sorted((assistant.settings.data_dir / "logs").glob("*.log"))
    assert {log.stem for log in logs} >= {"rasa", "actions", "web", "worker", "alerts"}
    for log in logs:
        text = log.read_text(errors="replace")
        for name, value in secrets_in_use.items():
            assert value not in text, f"{name} is in {log.name}"
