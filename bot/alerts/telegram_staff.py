"""Staff alerts by Telegram: a thin sender over the project's Telegram client.

An alert carries two inline buttons, "Acknowledge" (`ack:<escalation id>`) and "Take over"
(`take:<escalation id>`); the Telegram channel's staff hook (bot.handoff.staff_telegram)
handles the presses and replies to the alert.
"""

from __future__ import annotations

from bot.clients.base import Sent
from bot.clients.telegram_bot import TelegramClient

ACK_PREFIX = "ack:"
TAKE_PREFIX = "take:"


def alert_buttons(escalation_id: int) -> list[dict[str, str]]:
    """The buttons under an alert."""
    return [
        {"title": "Acknowledge", "payload": f"{ACK_PREFIX}{escalation_id}"},
        {"title": "Take over the chat", "payload": f"{TAKE_PREFIX}{escalation_id}"},
    ]


class TelegramStaffSender:
    """Sends alerts and notices to staff chats (a person's own chat or the staff group)."""

    def __init__(self, client: TelegramClient) -> None:
        self._client = client

    async def send_alert(self, chat_id: str, text: str, escalation_id: int) -> Sent:
        """An alert with its Acknowledge and Take over buttons; raises SendError."""
        return await self._client.send_plain(chat_id, text, alert_buttons(escalation_id))

    async def send_notice(self, chat_id: str, text: str) -> Sent:
        """A plain notice (acknowledged, new message, command answer); raises SendError."""
        return await self._client.send_plain(chat_id, text)

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._client.aclose()
