"""The Telegram client against the stand-in Bot API: what it sends, and how errors read."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from bot.clients.base import SendError
from bot.clients.telegram_bot import (
    TelegramClient,
    callback_data_for,
    inline_keyboard,
    payload_for_callback,
)
from bot.core.settings import SettingsError, get_settings
from bot.db.models import Channel
from tests.stand_ins.telegram_api import BLOCKED, TelegramApiStandIn

LONG_PAYLOAD = "please ask somebody from the study team to call me back about my visit"


@pytest.fixture
def telegram_api() -> Iterator[TelegramApiStandIn]:
    """Telegram's Bot API, on a local port."""
    with TelegramApiStandIn() as api:
        yield api


@pytest.fixture
async def client(telegram_api: TelegramApiStandIn) -> AsyncIterator[TelegramClient]:
    """A client pointed at the stand-in."""
    made = TelegramClient(telegram_api.token, api_base_url=telegram_api.base_url)
    yield made
    await made.aclose()


def test_making_a_client_calls_nothing(telegram_api: TelegramApiStandIn) -> None:
    made = TelegramClient(telegram_api.token, api_base_url=telegram_api.base_url)
    assert made.channel == Channel.TELEGRAM.value
    assert telegram_api.requests == []


def test_a_placeholder_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "changeme")
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="TELEGRAM_BOT_TOKEN"):
        TelegramClient.from_settings()


async def test_send_posts_plain_text_without_asking_who_the_bot_is(
    client: TelegramClient, telegram_api: TelegramApiStandIn
) -> None:
    sent = await client.send("5550001", "Hello *there*", [])
    [call] = telegram_api.requests
    assert call.method == "sendMessage"
    assert call.params == {"chat_id": "5550001", "text": "Hello *there*"}
    assert sent.external_id.endswith(":1")
    assert "5550001" not in sent.external_id


async def test_the_same_message_id_in_two_chats_gives_two_external_ids(
    client: TelegramClient,
) -> None:
    first = await client.send("5550001", "Hi", [])
    second = await client.send("5550002", "Hi", [])
    assert first.external_id != second.external_id


async def test_buttons_become_one_inline_button_per_row(
    client: TelegramClient, telegram_api: TelegramApiStandIn
) -> None:
    await client.send_plain("5550001", "Pick", [{"title": "Yes", "payload": "yes"}])
    [call] = telegram_api.requests
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]
    }


@pytest.mark.parametrize(
    ("status", "description", "retry_after", "permanent"),
    [
        (403, BLOCKED, None, True),
        (400, "Bad Request: chat not found", None, True),
        (500, "Internal Server Error", None, False),
        (502, "Bad Gateway", None, False),
        (429, "Too Many Requests: retry after 5", 5, False),
    ],
)
async def test_errors_say_whether_to_try_again(
    client: TelegramClient,
    telegram_api: TelegramApiStandIn,
    status: int,
    description: str,
    retry_after: int | None,
    permanent: bool,
) -> None:
    telegram_api.fail_next(1, status=status, description=description, retry_after=retry_after)
    with pytest.raises(SendError) as raised:
        await client.send("5550001", "Hi", [])
    assert raised.value.permanent is permanent


async def test_an_unreachable_api_is_a_passing_failure() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    unreachable = TelegramClient("123:abc", api_base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(SendError) as raised:
        await unreachable.send("5550001", "Hi", [])
    assert raised.value.permanent is False
    await unreachable.aclose()


async def test_answer_callback_and_webhook_calls(
    client: TelegramClient, telegram_api: TelegramApiStandIn
) -> None:
    await client.answer_callback("cbq-1")
    assert await client.set_webhook("https://example.org/hook", "s3cret")
    assert await client.delete_webhook()
    assert [call.method for call in telegram_api.requests] == [
        "answerCallbackQuery",
        "setWebhook",
        "deleteWebhook",
    ]
    assert telegram_api.requests[0].params == {"callback_query_id": "cbq-1"}
    assert telegram_api.requests[1].params["secret_token"] == "s3cret"


def test_short_payloads_are_their_own_callback_data() -> None:
    assert callback_data_for("yes") == "yes"
    assert payload_for_callback("yes", []) == "yes"


def test_a_long_payload_is_sent_as_a_key_and_read_back_from_the_buttons() -> None:
    buttons = [{"title": "Other", "payload": "no"}, {"title": "Call me", "payload": LONG_PAYLOAD}]
    data = callback_data_for(LONG_PAYLOAD)
    assert len(data.encode()) <= 64
    assert payload_for_callback(data, buttons) == LONG_PAYLOAD
    assert payload_for_callback(data, buttons[:1]) is None


def test_a_payload_that_looks_like_a_key_is_hashed_too() -> None:
    data = callback_data_for("#abc")
    assert data != "#abc"
    assert payload_for_callback(data, [{"title": "Hash", "payload": "#abc"}]) == "#abc"


def test_no_buttons_no_keyboard() -> None:
    assert inline_keyboard([]) is None
