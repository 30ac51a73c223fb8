"""The Telegram channel, served the way Rasa serves it, against a stand-in Bot API.

A Sanic app gets the channel through Rasa's own `register`, with a stand-in agent that
records each `UserMessage` and answers through `message.output_channel` — so replies go
through the real output channel, delivery, the message log and the stand-in Telegram.
Updates are posted over HTTP; nothing reaches the internet.
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic
from sqlalchemy import select

import bot.channels.replies
import bot.messaging.delivery
from bot.channels.telegram import SECRET_HEADER, TelegramInput, TelegramOutput
from bot.channels.telegram_setup import main, register_webhook, remove_webhook
from bot.clients.base import SENT
from bot.core.settings import SettingsError, get_settings
from bot.db.models import Channel, Direction, MessageLog, Participant
from bot.db.repository import get_participant_by_study_id
from bot.db.session import session_scope
from bot.messaging.delivery import FAILED, ReplyTo
from bot.participants.enrollment import address_of, enroll, link_telegram_chat
from bot.study.config import current_study
from bot.study.wording import messages
from tests.stand_ins.telegram_api import (
    BLOCKED,
    TelegramApiStandIn,
    callback_update,
    message_update,
)

SECRET = "test-webhook-secret_123"
CHAT = 5550001
OTHER_CHAT = 5550002
WEBHOOK_BASE = "https://trial.example.org"
BUTTONS = [
    {"title": "Yes", "payload": "yes"},
    {"title": "No", "payload": "no"},
    {"title": "Talk to a person", "payload": "i want to talk to a person"},
]
LONG_PAYLOAD = "i would like somebody from the study team to call me back about my next visit"


def wording(key: str) -> list[str]:
    """The study's texts for a wording key."""
    return messages(current_study(), key)


@pytest.fixture
def telegram_api() -> Iterator[TelegramApiStandIn]:
    """Telegram's Bot API, on a local port."""
    with TelegramApiStandIn() as api:
        yield api


@pytest.fixture
def telegram_env(monkeypatch: pytest.MonkeyPatch, telegram_api: TelegramApiStandIn) -> None:
    """Telegram enabled and pointed at the stand-in; immediate retries without waiting."""
    monkeypatch.setenv("ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", telegram_api.token)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", telegram_api.base_url)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_BASE_URL", WEBHOOK_BASE)
    monkeypatch.setattr(bot.messaging.delivery, "IMMEDIATE_BACKOFF", (0.01, 0.01))
    get_settings.cache_clear()


@dataclass
class StandInAgent:
    """Stands in for Rasa's agent: records each message and answers it like Rasa would."""

    messages: list[UserMessage] = field(default_factory=list)
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def handle_message(self, message: UserMessage) -> None:
        """Record the message; send the reply set for its text (else an echo)."""
        self.messages.append(message)
        reply = self.replies.get(message.text or "", {"text": f"You said: {message.text}"})
        await message.output_channel.send_response(message.sender_id, json.loads(json.dumps(reply)))


@dataclass
class Served:
    """The channel on a running Sanic app, and how to post updates to it."""

    app: Sanic
    channel: TelegramInput
    agent: StandInAgent
    url: str

    async def post(
        self, body: dict[str, Any] | bytes, *, secret: str | None = SECRET
    ) -> httpx.Response:
        """Post to the webhook as Telegram would, then wait until the update is handled."""
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with httpx.AsyncClient() as client:
            reply = await client.post(self.url, content=content, headers=headers)
        await self.channel.wait_idle()
        return reply


async def serve_channel(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    """Build the app as Rasa does (`register(..., route="/webhooks/")`) and serve it."""
    # Sanic rewrites its request handler on each start; test mode lets it start again.
    monkeypatch.setattr(Sanic, "test_mode", True)
    channel = TelegramInput.from_credentials(None)
    assert isinstance(channel, TelegramInput)
    app = Sanic(f"telegram_test_{uuid.uuid4().hex[:12]}", configure_logging=False)
    app.ctx.agent = StandInAgent()
    register([channel], app, route="/webhooks/")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield Served(
            app, channel, app.ctx.agent, f"http://127.0.0.1:{port}/webhooks/telegram/webhook"
        )
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
        sock.close()


@pytest.fixture
async def served(
    database_url: str, telegram_env: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Served]:
    """The enabled channel, served, on a migrated database."""
    async for each in serve_channel(monkeypatch):
        yield each


def enroll_on_telegram(study_id: str = "P-101", language: str | None = "en") -> str:
    """Enroll a Telegram participant; returns their enrollment code."""
    with session_scope() as session:
        result = enroll(
            session=session,
            study=current_study(),
            study_id=study_id,
            channel=Channel.TELEGRAM,
            timezone_name="America/Chicago",
            language=language,
        )
        assert result.enrollment_code is not None
        return result.enrollment_code


def linked_participant(study_id: str = "P-101", chat_id: int = CHAT) -> None:
    """Enroll a Telegram participant whose chat is already linked."""
    code = enroll_on_telegram(study_id)
    with session_scope() as session:
        assert link_telegram_chat(session=session, code=code, chat_id=str(chat_id))


def log_rows() -> list[MessageLog]:
    """The whole message log, oldest first."""
    with session_scope() as session:
        return list(session.execute(select(MessageLog).order_by(MessageLog.id)).scalars())


def sent_to(api: TelegramApiStandIn, chat_id: int) -> list[str]:
    """The texts the stand-in accepted for one chat."""
    return [
        call.params["text"]
        for call in api.calls("sendMessage")
        if call.params["chat_id"] == str(chat_id)
    ]


# --- Starting -----------------------------------------------------------------------------


async def test_starting_the_channel_calls_nothing(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    assert telegram_api.requests == []


async def test_disabled_channel_answers_503_and_says_so_once(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    telegram_api: TelegramApiStandIn,
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "")
    get_settings.cache_clear()
    with caplog.at_level(logging.INFO, logger="bot.channels.telegram"):
        async for served in serve_channel(monkeypatch):
            reply = await served.post(message_update(1, CHAT, "hello"))
            assert served.channel.get_output_channel() is None
    assert reply.status_code == 503
    lines = [record for record in caplog.records if record.name == "bot.channels.telegram"]
    assert len(lines) == 1
    assert "not enabled" in lines[0].getMessage()
    assert "TELEGRAM_BOT_TOKEN" in lines[0].getMessage()
    assert "TELEGRAM_WEBHOOK_SECRET" in lines[0].getMessage()
    assert log_rows() == []
    assert telegram_api.requests == []


def test_placeholder_secret_is_refused_at_start(
    telegram_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "changeme")
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET"):
        TelegramInput().blueprint(StandInAgent().handle_message)


# --- Checking what comes in ---------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "wrong-secret", SECRET + "x", ""])
async def test_missing_or_wrong_secret_is_refused_and_nothing_stored(
    served: Served, telegram_api: TelegramApiStandIn, secret: str | None
) -> None:
    linked_participant()
    reply = await served.post(message_update(10, CHAT, "hello"), secret=secret)
    assert reply.status_code == 403
    assert log_rows() == []
    assert served.agent.messages == []
    assert telegram_api.requests == []


async def test_an_oversized_update_with_the_right_secret_is_refused_and_not_stored(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    linked_participant()
    update = message_update(11, CHAT, "chest pain " * 8000)  # about 90 KB
    reply = await served.post(update)
    assert reply.status_code == 413
    assert log_rows() == []
    assert served.agent.messages == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        json.dumps({"message": {"text": "no update id"}}).encode(),
        json.dumps({"update_id": "12"}).encode(),
    ],
)
async def test_a_body_that_is_not_an_update_is_refused(served: Served, body: bytes) -> None:
    reply = await served.post(body)
    assert reply.status_code == 400
    assert log_rows() == []


async def test_a_repeated_update_is_handled_once(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    linked_participant()
    update = message_update(11, CHAT, "hello")
    first = await served.post(update)
    second = await served.post(update)
    assert (first.status_code, second.status_code) == (200, 200)
    assert [message.text for message in served.agent.messages] == ["hello"]
    inbound = [row for row in log_rows() if row.direction is Direction.INBOUND]
    assert [row.external_id for row in inbound] == ["update:11"]
    assert sent_to(telegram_api, CHAT) == ["You said: hello"]


# --- Linking a chat -----------------------------------------------------------------------


async def test_start_with_code_links_the_chat_then_messages_reach_rasa_as_the_participant(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    code = enroll_on_telegram("P-101")
    reply = await served.post(message_update(20, CHAT, f"/start {code.lower()}"))
    assert reply.status_code == 200
    assert sent_to(telegram_api, CHAT) == wording("telegram_linked")
    assert served.agent.messages == []
    with session_scope() as session:
        participant = get_participant_by_study_id(session=session, study_id="P-101")
        assert participant is not None
        assert address_of(participant) == str(CHAT)
        assert participant.enrollment_code is None

    await served.post(message_update(21, CHAT, "what is a placebo", message_id=2))

    [message] = served.agent.messages
    assert message.text == "what is a placebo"
    assert message.sender_id == "P-101"
    assert message.input_channel == "telegram"
    assert message.output_channel.name() == "telegram"  # TelegramOutput, watched by the guard
    assert sent_to(telegram_api, CHAT)[-1] == "You said: what is a placebo"
    rows = log_rows()
    assert all(row.sender_id == "P-101" and row.participant_id for row in rows)
    assert message.metadata == {
        "message_log_id": rows[2].id,
        "telegram_update_id": 21,
        "language": "en",  # the participant's, told to the dialogue by the turn guard
    }
    assert [(row.direction, row.text, row.delivery_status) for row in rows] == [
        (Direction.INBOUND, f"/start {code.lower()}", "received"),
        (Direction.OUTBOUND, wording("telegram_linked")[0], SENT),
        (Direction.INBOUND, "what is a placebo", "received"),
        (Direction.OUTBOUND, "You said: what is a placebo", SENT),
    ]
    assert all(row.channel is Channel.TELEGRAM and row.created_at.tzinfo for row in rows)
    assert [row.external_id for row in rows if row.direction is Direction.INBOUND] == [
        "update:20",
        "update:21",
    ]
    assert all(row.external_id for row in rows)
    assert all(str(CHAT) not in (row.external_id or "") for row in rows)


async def test_a_chat_linked_before_the_language_is_known_is_welcomed_in_both_then_follows_them(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    code = enroll_on_telegram("P-102", language=None)
    await served.post(message_update(20, CHAT, f"/start {code}"))
    both = [*wording("telegram_linked"), *messages(current_study(), "telegram_linked", "es")]
    assert sent_to(telegram_api, CHAT) == both

    await served.post(message_update(21, CHAT, "hola, q es un placebo", message_id=2))

    [message] = served.agent.messages
    assert message.metadata is not None and message.metadata["language"] == "es"
    with session_scope() as session:
        participant = get_participant_by_study_id(session=session, study_id="P-102")
        assert participant is not None
        assert (participant.language, participant.language_source) == ("es", "detected")


async def test_start_again_from_a_linked_chat_says_it_is_linked(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    linked_participant()
    await served.post(message_update(22, CHAT, "/start"))
    assert sent_to(telegram_api, CHAT) == wording("telegram_linked")
    assert served.agent.messages == []


async def test_a_wrong_code_links_nothing(served: Served, telegram_api: TelegramApiStandIn) -> None:
    enroll_on_telegram("P-101")
    await served.post(message_update(23, CHAT, "/start WRONGCODE"))
    assert sent_to(telegram_api, CHAT) == wording("telegram_bad_code")
    assert served.agent.messages == []
    with session_scope() as session:
        participant = get_participant_by_study_id(session=session, study_id="P-101")
        assert participant is not None and participant.address_encrypted is None


@pytest.mark.parametrize("text", ["hello", "/start", "i have chest pain"])
async def test_an_unknown_chat_is_asked_to_contact_the_study_team(
    served: Served, telegram_api: TelegramApiStandIn, text: str
) -> None:
    await served.post(message_update(24, OTHER_CHAT, text))
    assert sent_to(telegram_api, OTHER_CHAT) == wording("telegram_unknown_chat")
    assert served.agent.messages == []
    inbound, outbound = log_rows()
    assert inbound.participant_id is None and outbound.participant_id is None
    assert inbound.sender_id == outbound.sender_id
    assert inbound.sender_id.startswith("telegram-")
    assert str(OTHER_CHAT) not in inbound.sender_id
    assert (inbound.text, inbound.delivery_status) == (text, "received")
    assert (outbound.direction, outbound.delivery_status) == (Direction.OUTBOUND, SENT)


# --- Buttons, edits and stickers ----------------------------------------------------------


async def test_buttons_become_an_inline_keyboard_and_a_press_is_handled_as_typed(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    linked_participant()
    served.agent.replies["show choices"] = {"text": "Pick one", "buttons": BUTTONS}
    await served.post(message_update(30, CHAT, "show choices"))
    [call] = [c for c in telegram_api.calls("sendMessage") if c.params["text"] == "Pick one"]
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Yes", "callback_data": "yes"}],
            [{"text": "No", "callback_data": "no"}],
            [{"text": "Talk to a person", "callback_data": "i want to talk to a person"}],
        ]
    }
    shown = log_rows()[-1]
    assert shown.buttons == BUTTONS

    message_id = int(shown.external_id.rsplit(":", 1)[1]) if shown.external_id else 0
    press = callback_update(31, CHAT, "no", message_id=message_id, callback_query_id="cbq-31")
    assert (await served.post(press)).status_code == 200

    [answered] = telegram_api.calls("answerCallbackQuery")
    assert answered.params["callback_query_id"] == "cbq-31"
    pressed = served.agent.messages[-1]
    assert (pressed.text, pressed.sender_id, pressed.input_channel) == ("no", "P-101", "telegram")
    inbound = log_rows()[-2]
    assert (inbound.direction, inbound.text, inbound.external_id) == (
        Direction.INBOUND,
        "no",
        "update:31",
    )
    assert sent_to(telegram_api, CHAT)[-1] == "You said: no"


async def test_a_long_payload_goes_as_a_short_key_and_comes_back_whole(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    linked_participant()
    buttons = [{"title": "Call me", "payload": LONG_PAYLOAD}]
    served.agent.replies["what can you do"] = {"text": "What would help?", "buttons": buttons}
    await served.post(message_update(32, CHAT, "what can you do"))
    [call] = [
        c for c in telegram_api.calls("sendMessage") if c.params["text"] == "What would help?"
    ]
    [[button]] = call.params["reply_markup"]["inline_keyboard"]
    assert len(button["callback_data"].encode()) <= 64
    assert button["callback_data"] != LONG_PAYLOAD

    message_id = int(log_rows()[-1].external_id.rsplit(":", 1)[1])
    await served.post(callback_update(33, CHAT, button["callback_data"], message_id=message_id))
    assert served.agent.messages[-1].text == LONG_PAYLOAD


@pytest.mark.parametrize("keyword", ["help", "HELP", "Info", "help!"])
async def test_help_gets_the_study_contact_and_never_reaches_the_assistant(
    served: Served, telegram_api: TelegramApiStandIn, keyword: str
) -> None:
    linked_participant()
    await served.post(message_update(36, CHAT, keyword))

    assert sent_to(telegram_api, CHAT) == wording("help")
    assert served.agent.messages == []
    study = current_study()
    assert study.contacts.nurse.phone in wording("help")[0]
    assert f"In an emergency, call {study.emergency_number}" in wording("help")[0]


@pytest.fixture
def tagged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Channel texts marked with the language asked for ("[es] ..."), whatever the wording."""
    real = bot.channels.replies.messages

    def in_language(study: Any, key: str, language: str = "en", **extra: str) -> list[str]:
        return [f"[{language}] {text}" for text in real(study, key, language=language, **extra)]

    monkeypatch.setattr(bot.channels.replies, "messages", in_language)


def tagged_wording(key: str, language: str) -> list[str]:
    return [f"[{language}] {text}" for text in messages(current_study(), key, language=language)]


def speaks(study_id: str, language: str) -> None:
    with session_scope() as session:
        participant = get_participant_by_study_id(session=session, study_id=study_id)
        assert participant is not None
        participant.language = language


@pytest.mark.parametrize(
    ("keyword", "speaker", "language"),
    [
        ("AYUDA", "en", "es"),
        ("¡ayuda!", "es", "es"),
        ("Información", "en", "es"),
        ("help", "es", "es"),
        ("help", "en", "en"),
    ],
)
async def test_help_is_answered_in_spanish_for_a_spanish_word_else_in_their_language(
    served: Served,
    telegram_api: TelegramApiStandIn,
    tagged: None,
    keyword: str,
    speaker: str,
    language: str,
) -> None:
    linked_participant()
    speaks("P-101", speaker)

    await served.post(message_update(38, CHAT, keyword))

    assert sent_to(telegram_api, CHAT) == tagged_wording("help", language)
    assert served.agent.messages == []
    assert log_rows()[-1].language == language


def opted_out(study_id: str = "P-101") -> bool:
    with session_scope() as session:
        participant = get_participant_by_study_id(session=session, study_id=study_id)
        assert participant is not None
        return participant.opted_out_at is not None


@pytest.mark.parametrize(
    ("stop", "start", "language"),
    [
        ("STOP", "start", "en"),
        ("Parar", "EMPEZAR", "es"),
        ("cancelar", "iniciar", "es"),
        ("no más", "Empezar", "es"),
        ("ya no me manden mensajes porfa", "EMPEZAR", "es"),
    ],
)
async def test_stop_opts_out_of_what_the_assistant_sends_on_its_own_and_start_back_in(
    served: Served,
    telegram_api: TelegramApiStandIn,
    tagged: None,
    stop: str,
    start: str,
    language: str,
) -> None:
    linked_participant()
    output = served.channel.get_output_channel()
    assert output is not None

    await served.post(message_update(60, CHAT, stop))
    assert sent_to(telegram_api, CHAT) == tagged_wording("telegram_opted_out", language)
    assert opted_out() and served.agent.messages == []

    await output.send_text_message("P-101", "Time for your check-in")  # on its own: held
    await served.post(message_update(61, CHAT, "what is a placebo"))  # a reply: sent
    assert sent_to(telegram_api, CHAT)[1:] == ["You said: what is a placebo"]

    await served.post(message_update(62, CHAT, start))
    assert sent_to(telegram_api, CHAT)[2:] == tagged_wording("telegram_opted_in", language)
    assert not opted_out()
    await output.send_text_message("P-101", "Time for your check-in")
    assert sent_to(telegram_api, CHAT)[-1] == "Time for your check-in"


async def test_a_sticker_from_a_spanish_speaker_gets_text_only_in_spanish(
    served: Served, telegram_api: TelegramApiStandIn, tagged: None
) -> None:
    linked_participant()
    speaks("P-101", "es")
    await served.post(message_update(39, CHAT, sticker=True))

    assert sent_to(telegram_api, CHAT) == tagged_wording("text_only", "es")


async def test_help_with_a_red_flag_is_for_the_assistant(served: Served) -> None:
    linked_participant()
    await served.post(message_update(37, CHAT, "help me i cant breathe"))

    assert [message.text for message in served.agent.messages] == ["help me i cant breathe"]


async def test_a_typed_number_after_buttons_picks_that_button(served: Served) -> None:
    linked_participant()
    served.agent.replies["show choices"] = {"text": "Pick one", "buttons": BUTTONS}
    await served.post(message_update(34, CHAT, "show choices"))
    await served.post(message_update(35, CHAT, "3", message_id=2))
    assert served.agent.messages[-1].text == "i want to talk to a person"


@pytest.mark.parametrize(
    "update",
    [
        message_update(40, CHAT, "i have chest pain", edited=True),
        message_update(40, CHAT, sticker=True),
    ],
    ids=["edited", "sticker"],
)
async def test_edits_and_stickers_get_a_please_type_reply(
    served: Served, telegram_api: TelegramApiStandIn, update: dict[str, Any]
) -> None:
    linked_participant()
    await served.post(update)
    assert served.agent.messages == []
    assert sent_to(telegram_api, CHAT) == wording("text_only")
    inbound, outbound = log_rows()
    assert (inbound.direction, inbound.participant_id) == (
        Direction.INBOUND,
        outbound.participant_id,
    )
    assert outbound.delivery_status == SENT


async def test_a_group_chat_is_ignored(served: Served, telegram_api: TelegramApiStandIn) -> None:
    reply = await served.post(message_update(41, -100123, "/start ABC", chat_type="group"))
    assert reply.status_code == 200
    assert log_rows() == []
    assert telegram_api.requests == []


# --- Sending first, retries and failures --------------------------------------------------


async def test_rasa_picks_this_output_channel_to_message_a_participant_first(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    from rasa.server import _get_output_channel

    linked_participant()
    request = SimpleNamespace(args={"output_channel": "telegram"}, app=served.app)
    output = _get_output_channel(request, None)
    assert isinstance(output, TelegramOutput)
    await output.send_response("P-101", {"text": "Time for your check-in", "buttons": BUTTONS})
    [call] = telegram_api.calls("sendMessage")
    assert call.params["chat_id"] == str(CHAT)
    assert len(call.params["reply_markup"]["inline_keyboard"]) == 3
    [row] = log_rows()
    assert (row.direction, row.delivery_status, row.attempts) == (Direction.OUTBOUND, SENT, 1)


async def test_a_send_that_fails_twice_is_retried_and_recorded(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    linked_participant()
    telegram_api.fail_next(2, status=500)
    output = served.channel.get_output_channel()
    assert output is not None
    await output.send_text_message("P-101", "Hello from the study")
    statuses = [call.status for call in telegram_api.calls("sendMessage", succeeded_only=False)]
    assert statuses == [500, 500, 200]
    [row] = log_rows()
    assert (row.delivery_status, row.attempts, row.error) == (SENT, 3, None)
    assert row.external_id


async def test_a_handling_run_again_does_not_resend_what_its_first_run_sent(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    """A turn run again after its server stopped mid-turn (the same update, the replies
    numbered in its handling): the reply the first run sent is not sent twice."""
    linked_participant()
    with session_scope() as session:
        participant = get_participant_by_study_id(session=session, study_id="P-101")
        assert participant is not None
        inbound = MessageLog(
            participant_id=participant.id,
            sender_id=participant.sender_id,
            channel=Channel.TELEGRAM,
            direction=Direction.INBOUND,
            text="hello",
        )
        session.add(inbound)
        session.flush()
        inbound_id = inbound.id
    first = TelegramOutput(reply_to=ReplyTo(inbound_id))
    await first.send_text_message("P-101", "First reply")
    again = TelegramOutput(reply_to=ReplyTo(inbound_id, rerun=True))
    await again.send_text_message("P-101", "First reply")
    await again.send_text_message("P-101", "Second reply")

    texts = [call.params["text"] for call in telegram_api.calls("sendMessage")]
    assert texts.count("First reply") == 1 and texts.count("Second reply") == 1
    replies = [row for row in log_rows() if row.reply_to_id == inbound_id]
    assert [(row.text, row.reply_index) for row in replies] == [
        ("First reply", 0),
        ("Second reply", 1),
    ]


async def test_a_blocked_bot_is_recorded_as_failed_and_not_retried(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    linked_participant()
    telegram_api.fail_next(1, status=403, description=BLOCKED)
    await served.post(message_update(50, CHAT, "hello"))
    assert len(telegram_api.calls("sendMessage", succeeded_only=False)) == 1
    inbound, outbound = log_rows()
    assert inbound.delivery_status == "received"
    assert (outbound.delivery_status, outbound.attempts) == (FAILED, 1)
    assert outbound.next_attempt_at is None
    assert outbound.error is not None and "blocked" in outbound.error


async def test_message_ids_that_repeat_across_chats_are_all_logged(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    linked_participant("P-101", CHAT)
    linked_participant("P-102", OTHER_CHAT)
    await served.post(message_update(60, CHAT, "hello"))
    await served.post(message_update(61, OTHER_CHAT, "hello"))
    outbound = [row for row in log_rows() if row.direction is Direction.OUTBOUND]
    assert [row.delivery_status for row in outbound] == [SENT, SENT]
    assert len({row.external_id for row in outbound}) == 2


async def test_nothing_is_sent_to_a_participant_on_another_channel(
    served: Served, telegram_api: TelegramApiStandIn
) -> None:
    with session_scope() as session:
        session.add(
            Participant(study_id="P-200", sender_id="P-200", channel=Channel.SMS, timezone="UTC")
        )
    output = served.channel.get_output_channel()
    assert output is not None
    await output.send_text_message("P-200", "Hello")
    assert telegram_api.requests == []


# --- Registering the webhook --------------------------------------------------------------


async def test_register_webhook_sets_url_secret_and_updates(
    telegram_env: None, telegram_api: TelegramApiStandIn
) -> None:
    url = await register_webhook(get_settings())
    assert url == f"{WEBHOOK_BASE}/webhooks/telegram/webhook"
    [call] = telegram_api.calls("setWebhook")
    assert call.params["url"] == url
    assert call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == ["message", "edited_message", "callback_query"]
    assert call.params["drop_pending_updates"] == "false"

    await remove_webhook(get_settings())
    [removed] = telegram_api.calls("deleteWebhook")
    assert removed.params["drop_pending_updates"] == "false"
    assert telegram_api.webhook == {}


def test_the_command_says_what_it_did(
    telegram_env: None, telegram_api: TelegramApiStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([]) == 0
    assert f"{WEBHOOK_BASE}/webhooks/telegram/webhook" in capsys.readouterr().out
    assert telegram_api.webhook["secret_token"] == SECRET
    assert main(["--remove"]) == 0
    assert "removed" in capsys.readouterr().out
    assert telegram_api.webhook == {}


def test_the_command_refuses_a_webhook_that_is_not_https(
    telegram_env: None,
    telegram_api: TelegramApiStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TELEGRAM_WEBHOOK_BASE_URL", "http://trial.example.org")
    get_settings.cache_clear()
    assert main([]) == 2
    assert "https://" in capsys.readouterr().err
    assert telegram_api.requests == []


def test_the_command_reports_what_telegram_refused(
    telegram_env: None, telegram_api: TelegramApiStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    telegram_api.fail_next(1, status=400, description="Bad Request: bad webhook: HTTPS url needed")
    assert main([]) == 1
    assert "bad webhook" in capsys.readouterr().err.lower()
