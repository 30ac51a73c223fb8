"""Staff alerts by SMS: a thin sender over the project's Twilio client.

Staff acknowledge by texting back `ACK <code>` (handled by the SMS channel's staff hook,
bot.handoff.staff_sms).
"""

from __future__ import annotations

from bot.clients.base import SendError, Sent
from bot.clients.twilio_sms import TwilioSmsClient


class SmsStaffSender:
    """Sends alerts and notices to staff phones."""

    def __init__(self, client: TwilioSmsClient) -> None:
        self._client = client

    async def send(self, phone: str, text: str) -> Sent:
        """Send a text (split if long); the first part's SID identifies it. Raises SendError."""
        parts = await self._client.send_sms(phone, text)
        if not parts:
            raise SendError("nothing was sent", permanent=True)
        return parts[0]
