"""What every participant-messaging client is, as the rest of the project uses it.

A client sends one message to one address on its service and says what the service
answered (`Sent`), or raises `SendError` (`permanent` when sending again cannot help: a
bad number, a blocked bot; `maybe_sent` when the request went out and no answer came back,
so the service may have taken the message). Logging, retries and opt-outs are
`bot.messaging.delivery`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Button = dict[str, str]
SENT = "sent"


class SendError(Exception):
    """A channel could not send. `permanent` errors (bad number, blocked) are not retried;
    `maybe_sent` ones (a timeout, a dropped connection) may have reached the service."""

    def __init__(self, message: str, *, permanent: bool = False, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.maybe_sent = maybe_sent


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
