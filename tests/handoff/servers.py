"""The SMS and Telegram channels served the way Rasa serves them, for staff and handoff tests.

One Sanic app gets both channels through Rasa's own `register`, with a stand-in agent that
records each participant message and answers it through the message's output channel,
unless the stand-in Rasa API has the conversation paused (as Rasa predicts no action
then). Webhooks are posted over HTTP, signed as Twilio signs them.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic
from twilio.request_validator import RequestValidator

from bot.channels.telegram import SECRET_HEADER, TelegramInput
from bot.channels.twilio_sms import TwilioSmsInput
from bot.core.settings import get_settings
from tests.alerts.support import TWILIO_FROM, TWILIO_PUBLIC_BASE, WEBHOOK_SECRET
from tests.handoff.rasa_conversations import RasaConversationsStandIn
from tests.stand_ins.telegram_api import BOT_USER

SMS_WEBHOOK = "/webhooks/twilio/webhook"
TELEGRAM_WEBHOOK = "/webhooks/telegram/webhook"
ASSISTANT_REPLY = "This is the assistant."


@dataclass
class StandInAgent:
    """Stands in for Rasa's agent: answers, except in a paused conversation."""

    rasa: RasaConversationsStandIn
    received: list[UserMessage] = field(default_factory=list)

    async def handle_message(self, message: UserMessage) -> None:
        """Record the message; reply unless the conversation is paused."""
        self.received.append(message)
        if not self.rasa.is_paused(message.sender_id):
            await message.output_channel.send_text_message(message.sender_id, ASSISTANT_REPLY)


@dataclass
class Channels:
    """Both channels on a running server, and how to post to them."""

    http: httpx.AsyncClient
    sms: TwilioSmsInput
    telegram: TelegramInput
    agent: StandInAgent
    update_ids: list[int] = field(default_factory=lambda: [1000])

    async def idle(self) -> None:
        """Wait until everything received so far is handled."""
        await self.sms.wait_idle()
        await self.telegram.wait_idle()

    async def text(self, sender: str, body: str) -> httpx.Response:
        """An SMS from a number to the study number, signed as Twilio signs it."""
        sid = "SM" + secrets.token_hex(16)
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": get_settings().twilio_account_sid,
            "From": sender,
            "To": TWILIO_FROM,
            "Body": body,
            "NumMedia": "0",
        }
        validator = RequestValidator(get_settings().twilio_auth_token)
        signature = validator.compute_signature(TWILIO_PUBLIC_BASE + SMS_WEBHOOK, params)
        reply = await self.http.post(
            SMS_WEBHOOK, data=params, headers={"X-Twilio-Signature": signature}
        )
        await self.idle()
        return reply

    async def update(self, update: dict[str, Any]) -> httpx.Response:
        """A Telegram update, as Telegram posts it."""
        reply = await self.http.post(
            TELEGRAM_WEBHOOK,
            content=json.dumps(update).encode(),
            headers={"Content-Type": "application/json", SECRET_HEADER: WEBHOOK_SECRET},
        )
        await self.idle()
        return reply

    def next_update_id(self) -> int:
        """A fresh Telegram update ID."""
        self.update_ids[0] += 1
        return self.update_ids[0]


async def serve_channels(
    rasa: RasaConversationsStandIn, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Channels]:
    """Serve both channels on a free local port until the test ends."""
    monkeypatch.setattr(Sanic, "test_mode", True)
    sms, telegram = TwilioSmsInput(), TelegramInput()
    app = Sanic(f"handoff_test_{uuid.uuid4().hex[:12]}", configure_logging=False)
    app.ctx.agent = StandInAgent(rasa)
    register([sms, telegram], app, route="/webhooks/")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        try:
            async with httpx.AsyncClient(base_url=url, timeout=15) as http:
                yield Channels(http, sms, telegram, app.ctx.agent)
        finally:
            await server.before_stop()
            server.close()
            await server.wait_closed()
            await server.after_stop()


def reply_update(
    update_id: int,
    chat_id: int,
    text: str,
    *,
    reply_to: int,
    chat_type: str = "private",
    from_id: int | None = None,
) -> dict[str, Any]:
    """A Telegram update: a message that replies to one of the bot's messages."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type, "title": "Study team"},
            "from": {"id": from_id or chat_id, "is_bot": False, "first_name": "Joy"},
            "text": text,
            "reply_to_message": {
                "message_id": reply_to,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": chat_type},
                "from": BOT_USER,
                "text": "(an alert)",
            },
        },
    }


def group_callback(
    update_id: int, chat_id: int, from_id: int, data: str, *, message_id: int
) -> dict[str, Any]:
    """A press of an inline button under one of the bot's messages in a group chat."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}",
            "from": {"id": from_id, "is_bot": False, "first_name": "Bob"},
            "chat_instance": "-1",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "supergroup", "title": "Study team"},
                "from": BOT_USER,
                "text": "(an alert)",
            },
        },
    }
