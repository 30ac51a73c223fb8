"""Telegram's Bot API, as the project uses it: one small class around `telegram.Bot`.

Making a `TelegramClient` calls nothing over the network. python-telegram-bot 22 builds
its HTTP client when the `Bot` is made, and sending needs no `Bot.initialize()` (that
only fetches the bot's own profile with getMe, which this project never reads), so the
first request is the first message sent. `base_url` points it at a stand-in in tests.

Button payloads become `callback_data` as they are when they fit Telegram's 64 bytes; a
longer one is sent as a short hashed key, which `payload_for_callback` turns back into
the payload given the buttons that were sent (the message log keeps them).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest

from bot.clients.base import SendError, Sent
from bot.clients.pace import Pace, provider_pace
from bot.core.crypto import address_digest
from bot.core.settings import Settings, SettingsError, get_settings, require_secret

logger = logging.getLogger(__name__)

# The updates the webhook asks for (everything else is never sent to it).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
CALLBACK_DATA_MAX_BYTES = 64
HASHED_CALLBACK_PREFIX = "#"
# What Telegram accepts as a webhook secret token.
SECRET_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")
REQUEST_TIMEOUT_SECONDS = 10.0

Result = TypeVar("Result")


def webhook_secret(settings: Settings) -> str:
    """TELEGRAM_WEBHOOK_SECRET, refused when empty, a placeholder, or not what Telegram takes."""
    secret = require_secret("TELEGRAM_WEBHOOK_SECRET", settings.telegram_webhook_secret)
    if not SECRET_TOKEN_PATTERN.fullmatch(secret):
        raise SettingsError(
            "TELEGRAM_WEBHOOK_SECRET must be 1-256 letters, digits, _ or - (Telegram's rule)"
        )
    return secret


def chat_key(chat_id: str) -> str:
    """A short keyed hash of a chat ID: names a chat in the log without revealing it."""
    return address_digest("telegram", chat_id)[:16]


def callback_data_for(payload: str) -> str:
    """The `callback_data` of a button: its payload, or a hashed key when that is too long."""
    if (
        len(payload.encode()) <= CALLBACK_DATA_MAX_BYTES
        and payload
        and not payload.startswith(HASHED_CALLBACK_PREFIX)
    ):
        return payload
    return HASHED_CALLBACK_PREFIX + hashlib.sha256(payload.encode()).hexdigest()[:40]


def payload_for_callback(data: str, buttons: Sequence[Mapping[str, Any]]) -> str | None:
    """The payload a button press stands for (None: a hashed key none of the buttons has)."""
    if not data.startswith(HASHED_CALLBACK_PREFIX):
        return data
    for button in buttons:
        payload = button_payload(button)
        if callback_data_for(payload) == data:
            return payload
    return None


def button_payload(button: Mapping[str, Any]) -> str:
    """A Rasa button's payload (its title when it has none)."""
    return str(button.get("payload") or button.get("title") or "")


def inline_keyboard(buttons: Sequence[Mapping[str, Any]]) -> InlineKeyboardMarkup | None:
    """One button per row (easy to tap; labels may be long), or None without buttons."""
    if not buttons:
        return None
    rows = [
        [
            InlineKeyboardButton(
                str(button.get("title") or button_payload(button)),
                callback_data=callback_data_for(button_payload(button)),
            )
        ]
        for button in buttons
    ]
    return InlineKeyboardMarkup(rows)


def _send_error(error: TelegramError) -> SendError:
    """Our error for Telegram's: blocked, unknown chat and bad requests are not retried."""
    permanent = isinstance(error, Forbidden | BadRequest | ChatMigrated)
    if isinstance(error, RetryAfter):
        return SendError(f"rate limited by Telegram: {error}", permanent=False)
    text, name = str(error), type(error).__name__
    return SendError(text if text.startswith(name) else f"{name}: {text}", permanent=permanent)


class TelegramClient:
    """Sends through the Bot API (implements `bot.clients.base.ChannelClient`)."""

    channel = "telegram"

    def __init__(
        self,
        token: str,
        *,
        api_base_url: str = "https://api.telegram.org",
        pace: Pace | None = None,
    ) -> None:
        api = api_base_url.rstrip("/")
        # Telegram's limits per bot and per chat (bot.clients.pace): a send waits for them.
        self._pace = pace or provider_pace(self.channel)
        self._requests = (
            HTTPXRequest(connection_pool_size=1, read_timeout=REQUEST_TIMEOUT_SECONDS),
            HTTPXRequest(read_timeout=REQUEST_TIMEOUT_SECONDS),
        )
        self._bot = Bot(
            token,
            base_url=f"{api}/bot",
            base_file_url=f"{api}/file/bot",
            get_updates_request=self._requests[0],
            request=self._requests[1],
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> TelegramClient:
        """A client for TELEGRAM_BOT_TOKEN at TELEGRAM_API_BASE_URL (no network call)."""
        settings = settings or get_settings()
        token = require_secret("TELEGRAM_BOT_TOKEN", settings.telegram_bot_token)
        return cls(token, api_base_url=settings.telegram_api_base_url)

    async def send(
        self,
        address: str,
        text: str,
        buttons: Sequence[Mapping[str, Any]],
        *,
        language: str = "en",
    ) -> Sent:
        """Send one message to a chat; raise SendError when Telegram refuses or is unreachable.

        Buttons are Telegram's own, so nothing is added in any language."""
        return await self.send_plain(address, text, buttons)

    async def send_plain(
        self, chat_id: str, text: str, buttons: Sequence[Mapping[str, Any]] = ()
    ) -> Sent:
        """Send plain text (no markup parsing), buttons as an inline keyboard under it."""
        await self._pace.wait(chat_key(chat_id))
        message: Message = await self._call(
            self._bot.send_message(
                chat_id=chat_id, text=text, reply_markup=inline_keyboard(buttons)
            )
        )
        return Sent(external_id=f"{chat_key(chat_id)}:{message.message_id}")

    async def answer_callback(self, callback_query_id: str) -> None:
        """Tell Telegram a button press was received (the button stops spinning)."""
        await self._call(self._bot.answer_callback_query(callback_query_id=callback_query_id))

    async def set_webhook(self, url: str, secret_token: str) -> bool:
        """Have Telegram post our updates to `url`, with the secret token in a header."""
        done: bool = await self._call(
            self._bot.set_webhook(
                url=url,
                secret_token=secret_token,
                allowed_updates=list(ALLOWED_UPDATES),
                drop_pending_updates=False,
            )
        )
        return done

    async def delete_webhook(self) -> bool:
        """Stop Telegram posting updates to the webhook (pending updates are kept)."""
        done: bool = await self._call(self._bot.delete_webhook(drop_pending_updates=False))
        return done

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        for request in self._requests:
            await request.shutdown()

    @staticmethod
    async def _call(request: Awaitable[Result]) -> Result:
        try:
            return await request
        except TelegramError as error:
            raise _send_error(error) from error
