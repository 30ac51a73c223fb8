"""The Twilio SMS channel end to end: a real Sanic server with the channel registered the way
Rasa registers it, signed webhooks, the real output channel, delivery and message log, and
a local stand-in for Twilio's REST API. No trained model: a small stand-in assistant
records each message and answers through the message's own output channel.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic
from sqlalchemy import select
from twilio.request_validator import RequestValidator

import bot.channels.replies
import bot.channels.twilio_sms
import bot.messaging.delivery
from bot.channels import sms_inbox
from bot.channels.keywords import SMS_WORDS, Keyword
from bot.channels.twilio_sms import (
    REPLY_WINDOW,
    TwilioSmsInput,
    TwilioSmsOutput,
)
from bot.core.settings import get_settings
from bot.db.models import Channel, Direction, MessageLog, Participant
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.participants.enrollment import enroll
from bot.study.config import current_study
from bot.study.wording import messages
from tests.stand_ins.twilio_api import INVALID_NUMBER, TwilioApiStandIn

PHONE = "+15555550123"
OTHER_PHONE = "+15555550999"
FROM = "+15555550100"
# Twilio calls the public address of a proxy; the server itself listens on 127.0.0.1.
PUBLIC_BASE = "https://sms.example.org/rasa"
WEBHOOK = "/webhooks/twilio/webhook"
STATUS = "/webhooks/twilio/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
YES_NO = [{"title": "Yes", "payload": "yes"}, {"title": "No", "payload": "no"}]
SCALE = [
    {"title": f"{point} {label}", "payload": str(point)}
    for point, label in enumerate(["None", "Mild", "Moderate", "Severe", "Very severe"])
]
QUESTION = "Did you take your study medicine?"
ANSWER = "Thanks, I have noted it."


def wording(key: str) -> list[str]:
    return messages(current_study(), key)


def message_sid() -> str:
    return "SM" + secrets.token_hex(16)


def inbound(
    body: str = "hello", *, sid: str | None = None, sender: str = PHONE, media: int = 0
) -> dict[str, str]:
    """The form Twilio posts for an incoming SMS (blank fields included, as Twilio sends them)."""
    sid = sid or message_sid()
    params = {
        "ToCountry": "US",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": str(media),
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "US",
        "To": FROM,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": get_settings().twilio_account_sid,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    for index in range(media):
        params[f"MediaUrl{index}"] = f"https://api.twilio.com/media/ME{index}"
        params[f"MediaContentType{index}"] = "image/jpeg"
    return params


def status_report(sid: str, status: str, error_code: str = "") -> dict[str, str]:
    """The form Twilio posts to a message's StatusCallback."""
    params = {
        "AccountSid": get_settings().twilio_account_sid,
        "ApiVersion": "2010-04-01",
        "From": FROM,
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": PHONE,
    }
    if error_code:
        params["ErrorCode"] = error_code
    return params


def log_rows(direction: Direction | None = None) -> list[MessageLog]:
    with session_scope() as session:
        query = select(MessageLog).order_by(MessageLog.id)
        if direction is not None:
            query = query.where(MessageLog.direction == direction)
        return list(session.execute(query).scalars())


def reload(participant: Participant) -> Participant:
    with session_scope() as session:
        found = session.get(Participant, participant.id)
        assert found is not None
        return found


@dataclass
class Assistant:
    """Stands in for Rasa's agent: records each message and answers through its channel."""

    replies: list[tuple[str, list[dict[str, str]]]] = field(
        default_factory=lambda: [(QUESTION, YES_NO)]
    )
    received: list[UserMessage] = field(default_factory=list)
    hold: asyncio.Event | None = None
    fail: bool = False

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        if self.hold is not None:
            await self.hold.wait()
        if self.fail:
            raise RuntimeError("the model crashed")
        for text, buttons in self.replies:
            if buttons:
                await message.output_channel.send_text_with_buttons(
                    message.sender_id, text, buttons
                )
            else:
                await message.output_channel.send_text_message(message.sender_id, text)

    @property
    def texts(self) -> list[str | None]:
        return [message.text for message in self.received]


@dataclass
class SmsServer:
    """The channel on a real local server, and helpers to post to it as Twilio would."""

    http: httpx.AsyncClient
    local_url: str
    channel: TwilioSmsInput
    assistant: Assistant

    async def post(
        self,
        path: str,
        params: dict[str, str],
        *,
        signed: bool = True,
        token: str | None = None,
        signed_url: str | None = None,
        wait: bool = True,
    ) -> httpx.Response:
        """POST a form, signed for the public URL (unless told otherwise); wait for the work."""
        headers = {}
        if signed:
            validator = RequestValidator(token or get_settings().twilio_auth_token)
            headers["X-Twilio-Signature"] = validator.compute_signature(
                signed_url or PUBLIC_BASE + path, params
            )
        answer = await self.http.post(path, data=params, headers=headers)
        if wait:
            await self.channel.wait_idle()
        return answer

    async def text(self, body: str, **changes: Any) -> httpx.Response:
        """The participant (or another number) texts the study number."""
        return await self.post(WEBHOOK, inbound(body, **changes))


@pytest.fixture
def twilio_api() -> Iterator[TwilioApiStandIn]:
    with TwilioApiStandIn() as api:
        yield api


@pytest.fixture
def sms_settings(
    database_url: str, twilio_api: TwilioApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMS enabled against the stand-in, behind a proxy at PUBLIC_BASE; quick retries."""
    monkeypatch.setenv("ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", twilio_api.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", twilio_api.auth_token)
    monkeypatch.setenv("TWILIO_FROM_NUMBER", FROM)
    monkeypatch.setenv("TWILIO_MESSAGING_SERVICE_SID", "")
    monkeypatch.setenv("TWILIO_WEBHOOK_BASE_URL", PUBLIC_BASE)
    monkeypatch.setenv("TWILIO_API_BASE_URL", twilio_api.base_url)
    monkeypatch.setattr(bot.messaging.delivery, "IMMEDIATE_BACKOFF", (0.01, 0.01))
    get_settings.cache_clear()


@pytest.fixture
def participant(sms_settings: None) -> Participant:
    with session_scope() as session:
        return enroll(
            session=session,
            study=current_study(),
            study_id="P-001",
            channel=Channel.SMS,
            timezone_name="America/Chicago",
            phone=PHONE,
        ).participant


async def serve(
    channel: TwilioSmsInput, assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SmsServer]:
    """Run a Sanic app with the channel registered as Rasa does, on a free local port."""
    # Sanic rewrites its request handler on each start; test mode lets it start again.
    monkeypatch.setattr(Sanic, "test_mode", True)
    app = Sanic(f"twilio_sms_test_{secrets.token_hex(6)}", configure_logging=False)
    app.ctx.agent = assistant
    register([channel], app, route="/webhooks/")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        local_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        try:
            async with httpx.AsyncClient(base_url=local_url, timeout=10) as http:
                yield SmsServer(http, local_url, channel, assistant)
            await channel.wait_idle()
        finally:
            await server.before_stop()
            server.close()
            await server.wait_closed()
            await server.after_stop()


@pytest.fixture
async def sms(
    participant: Participant, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SmsServer]:
    channel = TwilioSmsInput.from_credentials({})
    assert isinstance(channel, TwilioSmsInput)
    async for running in serve(channel, Assistant(), monkeypatch):
        yield running


# --- signatures --------------------------------------------------------------------------


async def test_a_signed_message_reaches_the_assistant_and_the_reply_goes_out_by_sms(
    sms: SmsServer, twilio_api: TwilioApiStandIn, participant: Participant
) -> None:
    params = inbound("I took my inhaler")

    answer = await sms.post(WEBHOOK, params)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    assert answer.text == EMPTY_TWIML
    [message] = sms.assistant.received
    assert message.text == "I took my inhaler"
    assert message.sender_id == participant.sender_id
    assert message.input_channel == "twilio"
    assert message.message_id == params["MessageSid"]
    assert message.metadata is not None
    assert message.metadata["message_sid"] == params["MessageSid"]
    assert PHONE not in str(message.metadata)
    [sms_sent] = twilio_api.messages
    assert sms_sent == {
        "To": PHONE,
        "From": FROM,
        "Body": f"{QUESTION}\nReply 1 for Yes, 2 for No.",
        "StatusCallback": f"{PUBLIC_BASE}/webhooks/twilio/status",
    }
    received, replied = log_rows()
    assert (received.direction, received.channel) == (Direction.INBOUND, Channel.SMS)
    assert received.external_id == params["MessageSid"]
    assert received.participant_id == participant.id
    assert received.text == "I took my inhaler"
    assert (replied.direction, replied.channel) == (Direction.OUTBOUND, Channel.SMS)
    assert replied.text == QUESTION
    assert replied.buttons == YES_NO
    assert replied.delivery_status == "queued"
    assert replied.external_id and replied.external_id.startswith("SM")
    assert received.created_at <= replied.created_at


async def test_an_unsigned_message_is_refused_and_nothing_is_stored(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    answer = await sms.post(WEBHOOK, inbound("hello"), signed=False)

    assert answer.status_code == 403
    assert sms.assistant.received == []
    assert log_rows() == []
    assert twilio_api.requests == []


async def test_a_forged_signature_is_refused(sms: SmsServer) -> None:
    answer = await sms.post(WEBHOOK, inbound("hello"), token="not-our-auth-token")

    assert answer.status_code == 403
    assert log_rows() == []


async def test_a_signature_for_another_url_is_refused(sms: SmsServer) -> None:
    answer = await sms.post(WEBHOOK, inbound("hello"), signed_url=sms.local_url + WEBHOOK)

    assert answer.status_code == 403
    assert sms.assistant.received == []


async def test_a_signature_over_other_parameters_is_refused(sms: SmsServer) -> None:
    params = inbound("hello")
    signature = RequestValidator(get_settings().twilio_auth_token).compute_signature(
        PUBLIC_BASE + WEBHOOK, params
    )

    answer = await sms.http.post(
        WEBHOOK, data={**params, "Body": "changed"}, headers={"X-Twilio-Signature": signature}
    )

    assert answer.status_code == 403
    assert log_rows() == []


async def test_behind_a_proxy_the_public_url_is_what_is_checked(
    sms: SmsServer, participant: Participant
) -> None:
    assert not sms.local_url.startswith(PUBLIC_BASE)

    answer = await sms.post(WEBHOOK, inbound("hello"), signed_url=PUBLIC_BASE + WEBHOOK)

    assert answer.status_code == 200
    assert sms.assistant.texts == ["hello"]


async def test_without_a_public_url_the_local_address_is_checked(
    participant: Participant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_WEBHOOK_BASE_URL", "")
    get_settings.cache_clear()
    async for server in serve(TwilioSmsInput(), Assistant(), monkeypatch):
        answer = await server.post(WEBHOOK, inbound("hello"), signed_url=server.local_url + WEBHOOK)
        assert answer.status_code == 200
        assert server.assistant.texts == ["hello"]


# --- retries, malformed requests and edge cases ----------------------------------------


async def test_a_replayed_message_is_acknowledged_and_handled_once(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    params = inbound("hello")

    first = await sms.post(WEBHOOK, params)
    again = await sms.post(WEBHOOK, params)

    assert first.status_code == again.status_code == 200
    assert again.text == EMPTY_TWIML
    assert sms.assistant.texts == ["hello"]
    assert len(log_rows(Direction.INBOUND)) == 1
    assert len(twilio_api.messages) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"From": ""}, "From"),
        ({"MessageSid": ""}, "MessageSid"),
        ({"MessageSid": "SM/../../x"}, "MessageSid"),
        ({"NumMedia": "many"}, "NumMedia"),
    ],
)
async def test_a_malformed_message_gets_400_and_nothing_is_stored(
    sms: SmsServer, change: dict[str, str], reason: str
) -> None:
    params = {**inbound("hello"), **change}
    params = {name: value for name, value in params.items() if value or name == "Body"}

    answer = await sms.post(WEBHOOK, params)

    assert answer.status_code == 400
    assert reason in answer.json()["error"]
    assert log_rows() == []
    assert sms.assistant.received == []


async def test_a_signed_request_that_is_not_a_form_gets_400(sms: SmsServer) -> None:
    signature = RequestValidator(get_settings().twilio_auth_token).compute_signature(
        PUBLIC_BASE + WEBHOOK, {}
    )

    answer = await sms.http.post(
        WEBHOOK, json={"From": PHONE}, headers={"X-Twilio-Signature": signature}
    )

    assert answer.status_code == 400
    assert log_rows() == []


@pytest.mark.parametrize(("body", "media"), [("", 0), ("   ", 0), ("", 1), ("", 2)])
async def test_an_empty_or_picture_only_message_gets_the_text_only_reply(
    sms: SmsServer, twilio_api: TwilioApiStandIn, body: str, media: int
) -> None:
    answer = await sms.text(body, media=media)

    assert answer.status_code == 200
    assert sms.assistant.received == []
    assert [form["Body"] for form in twilio_api.messages] == wording("text_only")
    [received] = log_rows(Direction.INBOUND)
    assert received.text == body


async def test_a_picture_with_words_reaches_the_assistant(sms: SmsServer) -> None:
    await sms.text("my rash today", media=1)

    [message] = sms.assistant.received
    assert message.text == "my rash today"
    assert message.metadata is not None and message.metadata["num_media"] == 1


async def test_an_unknown_number_gets_a_kind_reply_and_never_reaches_the_assistant(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    answer = await sms.text("hello?", sender=OTHER_PHONE)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    [reply] = wording("unknown_sender")
    assert f"<Message>{reply}</Message>" in answer.text
    assert sms.assistant.received == []
    assert twilio_api.requests == []
    received, replied = log_rows()
    assert received.participant_id is None
    assert received.sender_id.startswith("sms-unknown-")
    assert OTHER_PHONE.lstrip("+") not in received.sender_id
    assert (replied.direction, replied.sender_id, replied.text) == (
        Direction.OUTBOUND,
        received.sender_id,
        reply,
    )


async def test_the_webhook_answers_before_the_assistant_has_finished(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    sms.assistant.hold = asyncio.Event()

    answer = await sms.post(WEBHOOK, inbound("hello"), wait=False)

    assert answer.status_code == 200
    assert twilio_api.messages == []
    sms.assistant.hold.set()
    await sms.channel.wait_idle()
    assert len(twilio_api.messages) == 1


async def test_an_assistant_failure_is_logged_not_answered_with_500(
    sms: SmsServer, caplog: pytest.LogCaptureFixture
) -> None:
    sms.assistant.fail = True

    with caplog.at_level(logging.ERROR, logger="bot.channels.twilio_sms"):
        answer = await sms.text("hello")

    assert answer.status_code == 200
    assert any("failed" in record.getMessage() for record in caplog.records)
    assert len(log_rows(Direction.INBOUND)) == 1


async def test_an_assistant_failure_still_gets_the_participant_a_safe_reply(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    sms.assistant.fail = True

    await sms.text("my chest feels tight")
    await sms.channel.wait_idle()

    sent = [form["Body"] for form in twilio_api.messages]
    assert sent == wording("assistant_failed")
    assert "911" in sent[0]


async def test_logs_name_ids_never_numbers_or_words(
    sms: SmsServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await sms.text("my secret words")
        await sms.text("hi", sender=OTHER_PHONE)

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "P-001" in logged
    for secret in (PHONE, OTHER_PHONE, "my secret words", QUESTION):
        assert secret not in logged


# --- keywords and opt-out ----------------------------------------------------------------


@pytest.mark.parametrize("word", sorted(SMS_WORDS[Keyword.STOP]["en"]))
async def test_a_stop_word_opts_out_with_one_confirmation(
    sms: SmsServer, twilio_api: TwilioApiStandIn, participant: Participant, word: str
) -> None:
    await sms.text(f"  {word.lower()} ")

    assert reload(participant).opted_out_at is not None
    assert sms.assistant.received == []
    assert [form["Body"] for form in twilio_api.messages] == wording("sms_opted_out")


@pytest.fixture
def tagged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Channel texts marked with the language asked for ("[es] ..."), whatever the wording."""
    real = bot.channels.replies.messages

    def in_language(study: Any, key: str, language: str = "en", **extra: str) -> list[str]:
        return [f"[{language}] {text}" for text in real(study, key, language=language, **extra)]

    monkeypatch.setattr(bot.channels.replies, "messages", in_language)


def tagged_wording(key: str, language: str) -> list[str]:
    return [f"[{language}] {text}" for text in messages(current_study(), key, language=language)]


def set_language(participant: Participant, language: str) -> None:
    with session_scope() as session:
        found = session.get(Participant, participant.id)
        assert found is not None
        found.language = language


@pytest.mark.parametrize(
    "text",
    [*sorted(SMS_WORDS[Keyword.STOP]["es"]), "No más", "ya no me manden mensajes"],
)
async def test_a_spanish_stop_opts_out_with_one_spanish_confirmation(
    sms: SmsServer, twilio_api: TwilioApiStandIn, participant: Participant, tagged: None, text: str
) -> None:
    await sms.text(text)
    await sms.text(text)  # a repeated one asks for nothing

    assert reload(participant).opted_out_at is not None
    assert sms.assistant.received == []
    assert [form["Body"] for form in twilio_api.messages] == tagged_wording("sms_opted_out", "es")
    received, *_, confirmed = log_rows()
    assert (received.language, confirmed.language) == ("es", "es")


async def test_stop_from_a_spanish_speaker_is_confirmed_in_spanish(
    sms: SmsServer, twilio_api: TwilioApiStandIn, participant: Participant, tagged: None
) -> None:
    set_language(participant, "es")

    await sms.text("STOP")

    assert [form["Body"] for form in twilio_api.messages] == tagged_wording("sms_opted_out", "es")


async def test_english_keywords_are_answered_in_english_for_an_english_speaker(
    sms: SmsServer, twilio_api: TwilioApiStandIn, participant: Participant, tagged: None
) -> None:
    await sms.text("HELP")

    assert [form["Body"] for form in twilio_api.messages] == tagged_wording("sms_help", "en")
    assert {row.language for row in log_rows()} == {"en"}


@pytest.mark.parametrize("word", ["EMPEZAR", "iniciar", "Comenzar"])
async def test_a_spanish_start_opts_back_in_in_spanish(
    sms: SmsServer, twilio_api: TwilioApiStandIn, participant: Participant, tagged: None, word: str
) -> None:
    await sms.text("PARAR")
    twilio_api.reset()

    await sms.text(word)

    assert reload(participant).opted_out_at is None
    assert [form["Body"] for form in twilio_api.messages] == tagged_wording("sms_opted_in", "es")


@pytest.mark.parametrize(("word", "language"), [("AYUDA", "es"), ("información", "es")])
async def test_ayuda_gives_the_study_contact_in_spanish(
    sms: SmsServer, twilio_api: TwilioApiStandIn, tagged: None, word: str, language: str
) -> None:
    await sms.text(word)

    assert [form["Body"] for form in twilio_api.messages] == tagged_wording("sms_help", language)
    assert sms.assistant.received == []


async def test_a_picture_from_a_spanish_speaker_gets_text_only_in_spanish(
    sms: SmsServer, twilio_api: TwilioApiStandIn, participant: Participant, tagged: None
) -> None:
    set_language(participant, "es")

    await sms.text("", media=1)

    assert [form["Body"] for form in twilio_api.messages] == tagged_wording("text_only", "es")


@pytest.mark.parametrize(("text", "language"), [("PARAR", "es"), ("AYUDA", "es"), ("hola", "en")])
async def test_a_stranger_gets_the_not_enrolled_reply_in_the_language_of_a_keyword(
    sms: SmsServer, tagged: None, text: str, language: str
) -> None:
    answer = await sms.text(text, sender=OTHER_PHONE)

    [reply] = tagged_wording("unknown_sender", language)
    assert f"<Message>{reply}</Message>" in answer.text
    assert log_rows(Direction.OUTBOUND)[-1].language == language


@pytest.mark.parametrize("text", ["ya no quiero vivir", "ya no me mandan mensajes", "alto riesgo"])
async def test_spanish_that_is_not_a_keyword_reaches_the_assistant(
    sms: SmsServer, participant: Participant, text: str
) -> None:
    await sms.text(text)

    assert reload(participant).opted_out_at is None
    assert sms.assistant.texts == [text]


async def test_after_stop_nothing_the_assistant_sends_on_its_own_goes_out(
    sms: SmsServer, twilio_api: TwilioApiStandIn, participant: Participant
) -> None:
    await sms.text("STOP")
    await sms.text("STOP")
    await TwilioSmsOutput().send_text_message(participant.sender_id, "Time for your check-in")
    await sms.channel.get_output_channel().send_text_message(participant.sender_id, "Reminder")

    assert len(twilio_api.messages) == 1  # the one confirmation
    suppressed = [
        row for row in log_rows(Direction.OUTBOUND) if row.delivery_status == "suppressed"
    ]
    assert [row.text for row in suppressed] == ["Time for your check-in", "Reminder"]


async def test_a_stop_that_could_not_be_stored_is_not_logged_so_twilio_retries_it(
    sms: SmsServer,
    twilio_api: TwilioApiStandIn,
    participant: Participant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = inbound("STOP")
    with monkeypatch.context() as broken:
        broken.setattr(sms_inbox, "set_opted_out", failing)
        failed = await sms.post(WEBHOOK, params)
    retried = await sms.post(WEBHOOK, params)

    assert (failed.status_code, retried.status_code) == (500, 200)
    assert reload(participant).opted_out_at is not None
    assert len(log_rows(Direction.INBOUND)) == 1
    assert [form["Body"] for form in twilio_api.messages] == wording("sms_opted_out")


def failing(**arguments: Any) -> bool:
    raise RuntimeError("the database went away")


async def test_stop_inside_a_sentence_is_not_a_keyword(
    sms: SmsServer, participant: Participant
) -> None:
    await sms.text("please stop the rain")

    assert reload(participant).opted_out_at is None
    assert sms.assistant.texts == ["please stop the rain"]


@pytest.mark.parametrize("word", ["START", "unstop"])
async def test_start_opts_back_in(
    sms: SmsServer, twilio_api: TwilioApiStandIn, participant: Participant, word: str
) -> None:
    await sms.text("STOP")
    twilio_api.reset()

    await sms.text(word)
    await TwilioSmsOutput().send_text_message(participant.sender_id, "Time for your check-in")

    assert reload(participant).opted_out_at is None
    assert [form["Body"] for form in twilio_api.messages] == [
        *wording("sms_opted_in"),
        "Time for your check-in",
    ]


async def test_help_gives_the_study_contact_even_after_stop(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    await sms.text("STOP")
    twilio_api.reset()

    await sms.text("help")

    [help_text] = wording("sms_help")
    assert current_study().contacts.coordinator.phone in help_text
    assert [form["Body"] for form in twilio_api.messages] == [help_text]
    assert sms.assistant.received == []


async def test_a_participant_who_texts_after_stop_gets_an_answer_to_that_message(
    sms: SmsServer, twilio_api: TwilioApiStandIn, participant: Participant
) -> None:
    await sms.text("STOP")
    twilio_api.reset()
    sms.assistant.replies = [(ANSWER, [])]

    await sms.text("I have chest pain")
    await TwilioSmsOutput().send_text_message(participant.sender_id, "Time for your check-in")

    assert sms.assistant.texts == ["I have chest pain"]
    # The stand-in assistant did not answer the red flag: the turn guard did, by SMS too.
    assert [form["Body"] for form in twilio_api.messages] == [ANSWER, *wording("emergency")]
    assert reload(participant).opted_out_at is not None  # still opted out until START
    assert log_rows(Direction.OUTBOUND)[-1].delivery_status == "suppressed"


async def test_a_reply_to_a_message_sent_before_stop_is_suppressed(
    sms: SmsServer, twilio_api: TwilioApiStandIn, participant: Participant
) -> None:
    before_stop = utcnow()
    await sms.text("STOP")
    twilio_api.reset()

    await TwilioSmsOutput(in_reply_to_message_at=before_stop).send_text_message(
        participant.sender_id, ANSWER
    )
    late = utcnow() - REPLY_WINDOW * 2
    await TwilioSmsOutput(in_reply_to_message_at=late).send_text_message(
        participant.sender_id, ANSWER
    )

    assert twilio_api.messages == []


# --- numbered replies ------------------------------------------------------------------


async def test_a_bare_number_after_buttons_becomes_that_buttons_payload(sms: SmsServer) -> None:
    await sms.text("check in")
    sms.assistant.replies = [(ANSWER, [])]

    await sms.text(" 2 ")
    await sms.text("2")

    assert sms.assistant.texts == ["check in", "no", "2"]


async def test_scale_buttons_keep_their_own_numbers(sms: SmsServer) -> None:
    sms.assistant.replies = [("How bad is your cough at its worst?", SCALE)]
    await sms.text("my cough")

    await sms.text("0")
    await sms.text("3")

    assert sms.assistant.texts == ["my cough", "0", "3"]


# --- sending -----------------------------------------------------------------------------


async def test_a_long_reply_is_split_with_the_options_at_the_end(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    long_text = "Your visit is at the clinic on the third floor, next to the lift. " * 7
    sms.assistant.replies = [(long_text + QUESTION, YES_NO)]

    await sms.text("where do I go")

    bodies = [form["Body"] for form in twilio_api.messages]
    assert len(bodies) >= 2
    assert all(len(body) <= 300 for body in bodies)
    assert bodies[-1].endswith("\nReply 1 for Yes, 2 for No.")
    assert " ".join(bodies).split()[:-7] == (long_text + QUESTION).split()
    outbound = log_rows(Direction.OUTBOUND)
    assert [row.buttons for row in outbound] == [None] * (len(bodies) - 1) + [YES_NO]


async def test_a_failed_send_is_retried_and_recorded(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    twilio_api.fail_next(2, status=500)

    await sms.text("hello")

    assert [request.status for request in twilio_api.requests] == [500, 500, 201]
    [replied] = log_rows(Direction.OUTBOUND)
    assert replied.attempts == 3
    assert replied.delivery_status == "queued"
    assert replied.error is None


async def test_an_invalid_number_is_not_retried_and_is_recorded_as_failed(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    twilio_api.fail_next(1, status=400, code=INVALID_NUMBER)

    await sms.text("hello")

    assert [request.status for request in twilio_api.requests] == [400]
    [replied] = log_rows(Direction.OUTBOUND)
    assert (replied.delivery_status, replied.attempts) == ("failed", 1)
    assert replied.error == "Twilio error 21211 (HTTP 400)"
    assert replied.next_attempt_at is None


async def test_a_send_whose_answer_was_lost_is_found_at_twilio_and_not_sent_again(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    """Twilio took the message but its answer never came back (a dropped connection): the
    send is looked up before it is tried again, and the participant gets it once."""
    twilio_api.drop_next(1)

    await sms.text("hello")

    assert [(r.method, r.status) for r in twilio_api.requests] == [("POST", 201), ("GET", 200)]
    [form] = twilio_api.messages
    [replied] = log_rows(Direction.OUTBOUND)
    assert replied.external_id == twilio_api.created[0]["sid"]
    assert replied.delivery_status == "queued"
    assert form["Body"].startswith(QUESTION)


async def test_a_lookup_never_takes_an_earlier_logged_message_for_the_lost_one(
    sms: SmsServer, twilio_api: TwilioApiStandIn, participant: Participant
) -> None:
    """The same words sent before (logged with their own SID) are not the lost send: a
    failed message the worker retries is sent again, once."""
    await TwilioSmsOutput().send_text_message(participant.sender_id, ANSWER)
    twilio_api.fail_next(3, status=503)
    await TwilioSmsOutput().send_text_message(participant.sender_id, ANSWER)
    first, failed = log_rows(Direction.OUTBOUND)
    assert failed.delivery_status == "failed" and failed.next_attempt_at is not None

    retried = await bot.messaging.delivery.retry_failed(
        bot.channels.twilio_sms.sms_client(), now=failed.next_attempt_at
    )

    assert retried == 1
    assert [form["Body"] for form in twilio_api.messages] == [ANSWER, ANSWER]
    _, sent_again = log_rows(Direction.OUTBOUND)
    assert sent_again.external_id not in (None, first.external_id)


def stopped_mid_turn(log_id: int) -> None:
    """The message's server stopped after the turn's replies went out and before the turn
    was saved and the message marked handled: unhandled, its claim run out long ago."""
    with session_scope() as session:
        entry = session.get(MessageLog, log_id)
        assert entry is not None
        entry.handled_at = None
        entry.claimed_by = "a-server-that-stopped"
        entry.claimed_until = utcnow() - timedelta(minutes=10)
        entry.created_at = utcnow() - timedelta(minutes=15)


async def test_a_handling_run_again_sends_only_the_replies_the_first_run_did_not(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    sms.assistant.replies = [(ANSWER, [])]
    await sms.text("hello")
    [inbound_row] = log_rows(Direction.INBOUND)
    stopped_mid_turn(inbound_row.id)
    sms.assistant.replies = [(ANSWER, []), (QUESTION, YES_NO)]

    assert await sms.channel.queue.sweep() == 1
    await sms.channel.wait_idle()

    assert [form["Body"] for form in twilio_api.messages] == [
        ANSWER,
        QUESTION + "\nReply 1 for Yes, 2 for No.",
    ]
    answer, question = log_rows(Direction.OUTBOUND)
    assert (answer.reply_to_id, answer.reply_index) == (inbound_row.id, 0)
    assert (question.reply_to_id, question.reply_index) == (inbound_row.id, 1)
    assert len(sms.assistant.received) == 2
    [again] = log_rows(Direction.INBOUND)
    assert again.handled_at is not None


async def test_a_reply_left_queued_by_a_stopped_server_is_looked_up_not_sent_twice(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    """The server stopped between Twilio taking a reply and recording it: the run again
    finds it at Twilio, records its SID and sends only what the first run never sent."""
    sms.assistant.replies = [(ANSWER, [])]
    twilio_api.drop_next(1)
    await sms.text("hello")
    [inbound_row] = log_rows(Direction.INBOUND)
    [answer] = log_rows(Direction.OUTBOUND)
    with session_scope() as session:
        entry = session.get(MessageLog, answer.id)
        assert entry is not None
        entry.external_id, entry.attempts = None, 0  # as the stopped server left it
    stopped_mid_turn(inbound_row.id)
    sms.assistant.replies = [(ANSWER, []), ("Anything else?", [])]

    await sms.channel.queue.sweep()
    await sms.channel.wait_idle()

    assert [form["Body"] for form in twilio_api.messages] == [ANSWER, "Anything else?"]
    answer_again, other = log_rows(Direction.OUTBOUND)
    assert answer_again.id == answer.id
    assert [answer_again.external_id, other.external_id] == [
        resource["sid"] for resource in twilio_api.created
    ]
    assert other.reply_index == 1


async def test_a_reply_the_stopped_server_never_sent_is_sent_on_the_run_again(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    sms.assistant.replies = [(ANSWER, [])]
    await sms.text("hello")
    [inbound_row] = log_rows(Direction.INBOUND)
    twilio_api.reset()
    [answer] = log_rows(Direction.OUTBOUND)
    with session_scope() as session:
        entry = session.get(MessageLog, answer.id)
        assert entry is not None
        entry.external_id, entry.attempts = None, 0  # logged, then the server stopped
    stopped_mid_turn(inbound_row.id)

    await sms.channel.queue.sweep()
    await sms.channel.wait_idle()

    assert [form["Body"] for form in twilio_api.messages] == [ANSWER]
    [sent] = log_rows(Direction.OUTBOUND)
    assert sent.id == answer.id and sent.external_id is not None


async def test_the_output_channel_lets_the_assistant_text_first(
    sms: SmsServer, twilio_api: TwilioApiStandIn, participant: Participant
) -> None:
    output = sms.channel.get_output_channel()

    assert isinstance(output, TwilioSmsOutput)
    assert output.name() == "twilio"
    await output.send_text_with_buttons(participant.sender_id, "Ready for your check-in?", YES_NO)
    [form] = twilio_api.messages
    assert form["To"] == PHONE
    assert form["Body"] == "Ready for your check-in?\nReply 1 for Yes, 2 for No."


async def test_nothing_is_sent_to_someone_who_is_not_an_sms_participant(
    sms: SmsServer, twilio_api: TwilioApiStandIn
) -> None:
    with session_scope() as session:
        enroll(
            session=session,
            study=current_study(),
            study_id="P-TG",
            channel=Channel.TELEGRAM,
            timezone_name="UTC",
        )

    await TwilioSmsOutput().send_text_message("P-TG", "hello")
    await TwilioSmsOutput().send_text_message("nobody", "hello")

    assert twilio_api.requests == []


# --- delivery reports --------------------------------------------------------------------


async def sent_sid(participant: Participant) -> str:
    await TwilioSmsOutput().send_text_message(participant.sender_id, "Time for your check-in")
    sid = log_rows(Direction.OUTBOUND)[-1].external_id
    assert sid is not None
    return sid


async def test_a_delivery_report_updates_the_message_and_never_moves_it_back(
    sms: SmsServer, participant: Participant
) -> None:
    sid = await sent_sid(participant)

    assert (await sms.post(STATUS, status_report(sid, "sent"))).status_code == 204
    assert (await sms.post(STATUS, status_report(sid, "delivered"))).status_code == 204
    await sms.post(STATUS, status_report(sid, "sent"))  # late and out of order

    [row] = log_rows(Direction.OUTBOUND)
    assert row.delivery_status == "delivered"


@pytest.mark.parametrize(("status", "code"), [("failed", "30008"), ("undelivered", "30003")])
async def test_a_failed_delivery_is_recorded_with_its_error(
    sms: SmsServer, participant: Participant, status: str, code: str
) -> None:
    sid = await sent_sid(participant)

    await sms.post(STATUS, status_report(sid, status, code))

    [row] = log_rows(Direction.OUTBOUND)
    assert (row.delivery_status, row.error) == (status, f"Twilio error {code}")


async def test_a_report_for_an_unknown_message_is_acknowledged(sms: SmsServer) -> None:
    answer = await sms.post(STATUS, status_report(message_sid(), "delivered"))

    assert answer.status_code == 204
    assert log_rows() == []


async def test_an_unsigned_or_malformed_report_changes_nothing(
    sms: SmsServer, participant: Participant
) -> None:
    sid = await sent_sid(participant)

    unsigned = await sms.post(STATUS, status_report(sid, "delivered"), signed=False)
    forged = await sms.post(STATUS, status_report(sid, "delivered"), token="forged-token")
    unknown = await sms.post(STATUS, status_report(sid, "teleported"))

    assert (unsigned.status_code, forged.status_code, unknown.status_code) == (403, 403, 400)
    assert log_rows(Direction.OUTBOUND)[0].delivery_status == "queued"


# --- not configured ----------------------------------------------------------------------


@pytest.fixture
def sms_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_FROM_NUMBER",
        "TWILIO_MESSAGING_SERVICE_SID",
        "TWILIO_WEBHOOK_BASE_URL",
    ):
        monkeypatch.setenv(name, "")
    get_settings.cache_clear()


def test_without_settings_start_up_says_so_in_one_line(
    sms_off: None, caplog: pytest.LogCaptureFixture
) -> None:
    async def ignore(message: UserMessage) -> None:
        raise AssertionError("nothing may reach the assistant")

    with caplog.at_level(logging.DEBUG, logger="bot.channels.twilio_sms"):
        TwilioSmsInput.from_credentials(None).blueprint(ignore)

    [line] = [record.getMessage() for record in caplog.records]
    assert line.startswith("SMS (Twilio) is not enabled: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN")
    assert "TWILIO_FROM_NUMBER (or TWILIO_MESSAGING_SERVICE_SID)" in line
    assert "TWILIO_WEBHOOK_BASE_URL" in line


async def test_without_settings_every_route_answers_503(
    sms_off: None, twilio_api: TwilioApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    async for server in serve(TwilioSmsInput(), Assistant(), monkeypatch):
        answers = [
            await server.http.get("/webhooks/twilio/"),
            await server.post(WEBHOOK, inbound("hello"), signed=False),
            await server.post(STATUS, status_report(message_sid(), "sent"), signed=False),
        ]
        assert [answer.status_code for answer in answers] == [503, 503, 503]
        assert {str(answer.json()) for answer in answers} == {"{'error': 'SMS is not configured'}"}
        assert server.assistant.received == []
    assert twilio_api.requests == []


async def test_health_says_ok_when_configured(sms: SmsServer) -> None:
    answer = await sms.http.get("/webhooks/twilio/")

    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
