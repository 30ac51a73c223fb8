"""What every participant-messaging client is, as the rest of the project uses it.

A client sends one message to one address on its service and says what the service
answered (`Sent`), or raises `SendError` (`permanent` when sending again cannot help: a
bad number, a blocked bot). Logging, retries and opt-outs are `bot.messaging.delivery`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Button = dict[str, str]
SENT = "sent"


class SendError(Exception):
    """A channel could not send. `permanent` errors (bad number, blocked) are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Sent:
    """What a channel said about a message it accepted."""

    external_id: str
    status: str = SENT


class ChannelClient(Protocol):
    """One outside messaging service (Twilio SMS, Telegram); `channel` is its name
    ("sms", "telegram"), as the message log records it."""

    channel: str

    async def send(
        self,
        address: str,
        text: str,
        buttons: Sequence[Mapping[str, Any]],
        *,
        language: str = "en",
    ) -> Sent:
        """Send one message (`language`: the participant's, for any words the channel adds
        around the text); raise SendError when it cannot."""
