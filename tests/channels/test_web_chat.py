"""Rasa's side of the web chat (bot.channels.web_chat) served as Rasa serves it: keywords in
English and Spanish, and the language the visitor picked on the page's switch (message
metadata `language`), stored and handed to the assistant.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic
from sqlalchemy import event, select

import bot.channels.replies
from bot.channels.web_chat import WebChatInput, parse_web_message
from bot.core.settings import get_settings
from bot.db.models import MessageLog, Participant
from bot.db.session import get_engine, session_scope
from bot.study.config import current_study
from bot.study.wording import messages

WEBHOOK = "/webhooks/rest/webhook"
REPLY = "Hello from the assistant"


@dataclass
class Assistant:
    """Stands in for Rasa's agent: records each message and answers through its channel."""

    received: list[UserMessage] = field(default_factory=list)

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        await message.output_channel.send_text_message(message.sender_id, REPLY)


@dataclass
class Chat:
    http: httpx.AsyncClient
    assistant: Assistant
    sender: str = field(default_factory=lambda: f"web-{secrets.token_hex(8)}")

    async def say(self, text: str, language: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"sender": self.sender, "message": text}
        if language is not None:
            body["metadata"] = {"language": language}
        return await self.http.post(WEBHOOK, json=body)

    async def texts(self, text: str, language: str | None = None) -> list[str]:
        answer = await self.say(text, language)
        assert answer.status_code == 200, answer.text
        return [message["text"] for message in answer.json()]

    def participant(self) -> Participant:
        with session_scope() as session:
            found = session.execute(
                select(Participant).where(Participant.sender_id == self.sender)
            ).scalar_one()
            return found

    def log_languages(self) -> list[str | None]:
        with session_scope() as session:
            return list(
                session.execute(
                    select(MessageLog.language)
                    .where(MessageLog.sender_id == self.sender)
                    .order_by(MessageLog.id)
                ).scalars()
            )


@pytest.fixture
def tagged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Channel texts marked with the language asked for ("[es] ..."), whatever the wording."""
    real = bot.channels.replies.messages

    def in_language(study: Any, key: str, language: str = "en", **extra: str) -> list[str]:
        return [f"[{language}] {text}" for text in real(study, key, language=language, **extra)]

    monkeypatch.setattr(bot.channels.replies, "messages", in_language)


def tagged_wording(key: str, language: str) -> list[str]:
    return [f"[{language}] {text}" for text in messages(current_study(), key, language=language)]


@pytest.fixture
async def chat(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Chat]:
    """The channel on a real local server, registered as Rasa registers it."""
    monkeypatch.setenv("WEB_CHAT_ENABLED", "true")
    get_settings.cache_clear()
    monkeypatch.setattr(Sanic, "test_mode", True)
    app = Sanic(f"web_chat_test_{secrets.token_hex(6)}", configure_logging=False)
    assistant = Assistant()
    app.ctx.agent = assistant
    register([WebChatInput()], app, route="/webhooks/")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        try:
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                yield Chat(http, assistant)
        finally:
            await server.before_stop()
            server.close()
            await server.wait_closed()
            await server.after_stop()


async def test_the_chosen_language_goes_to_the_assistant_and_is_stored(chat: Chat) -> None:
    assert REPLY in await chat.texts("hola", "es")

    [message] = chat.assistant.received
    assert message.metadata is not None
    assert message.metadata["language"] == "es"
    assert isinstance(message.metadata["message_log_id"], int)
    assert chat.participant().language == "es"
    assert set(chat.log_languages()) == {"es"}


async def test_without_a_choice_the_language_of_their_words_is_used(chat: Chat) -> None:
    await chat.texts("hola, q es un placebo")

    [message] = chat.assistant.received
    assert message.metadata is not None
    assert message.metadata["language"] == "es"  # detected by the turn guard, not chosen
    assert (chat.participant().language, chat.participant().language_source) == (
        "es",
        "detected",
    )


async def test_switching_back_to_english_is_stored(chat: Chat) -> None:
    await chat.texts("hola", "es")
    await chat.texts("hello", "en")

    assert [m.metadata["language"] for m in chat.assistant.received if m.metadata] == ["es", "en"]
    assert chat.participant().language == "en"


@pytest.mark.parametrize(
    "metadata",
    [{"language": "fr"}, {"language": "ES"}, {"language": 1}, "es", ["es"]],
)
def test_any_other_language_is_refused(metadata: Any) -> None:
    with pytest.raises(ValueError, match="metadata"):
        parse_web_message({"sender": "web-abcdef12", "message": "hi", "metadata": metadata})


async def test_a_bad_language_gets_400_and_reaches_nobody(chat: Chat) -> None:
    answer = await chat.say("hola", "fr")

    assert answer.status_code == 400
    assert "metadata.language" in answer.json()["error"]
    assert chat.assistant.received == []


@pytest.mark.parametrize(
    ("text", "chosen", "key", "language"),
    [
        ("AYUDA", None, "help", "es"),
        ("help", "es", "help", "es"),
        ("help", None, "help", "en"),
        ("información", "en", "help", "es"),
        ("PARAR", None, "web_stop", "es"),
        ("ya no me manden mensajes", None, "web_stop", "es"),
        ("stop", "es", "web_stop", "es"),
        ("STOP", "en", "web_stop", "en"),
    ],
)
async def test_keywords_are_answered_here_in_the_right_language(
    chat: Chat, tagged: None, text: str, chosen: str | None, key: str, language: str
) -> None:
    assert await chat.texts(text, chosen) == tagged_wording(key, language)
    assert chat.assistant.received == []
    assert set(chat.log_languages()) == {language}


@pytest.mark.parametrize("text", ["cancelar", "basta", "no mas", "ya no quiero vivir"])
async def test_spanish_that_may_mean_the_check_in_goes_to_the_assistant(
    chat: Chat, text: str
) -> None:
    await chat.texts(text, "es")  # the turn guard may add the emergency reply

    assert [message.text for message in chat.assistant.received] == [text]


async def test_the_message_and_its_replies_are_logged_in_one_transaction_each(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    await chat.texts("hello")  # first contact enrols the visitor
    replies = ["One.", "Two.", "Three."]

    async def three_replies(message: UserMessage) -> None:
        for text in replies:
            await message.output_channel.send_text_message(message.sender_id, text)

    monkeypatch.setattr(chat.assistant, "handle_message", three_replies)
    engine = get_engine()
    transactions: list[list[str]] = []
    event.listen(engine, "begin", lambda connection: transactions.append([]))
    event.listen(
        engine,
        "before_cursor_execute",
        lambda connection, cursor, statement, *rest: transactions[-1].append(statement),
    )

    assert await chat.texts("what is a placebo") == replies

    log_writes = [
        sum(statement.startswith("INSERT INTO message_log") for statement in statements)
        for statements in transactions
    ]
    assert [count for count in log_writes if count] == [1, len(replies)]
    assert chat.log_languages()[-4:] == ["en"] * 4
