"""Messages from staff (and handoff notices) to a participant, over their own channel.

SMS and Telegram go through `bot.messaging.delivery.deliver` (logged, retried, opt-outs kept; an SMS
participant who opted out but has written since is answered, as the SMS channel does).
The web chat has no push: its messages are logged as "queued", and the chat page fetches
them (`bot.web.chat_updates`), which marks them delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import partial

from bot.clients.base import ChannelClient
from bot.clients.telegram_bot import TelegramClient
from bot.clients.twilio_sms import TwilioSmsClient, split_for_sms
from bot.core.settings import Settings, get_settings
from bot.db.models import Channel, Participant
from bot.db.session import session_scope
from bot.handoff.repository import latest_inbound_at
from bot.messaging.delivery import FAILED, QUEUED, Outcome, deliver, log_outbound

logger = logging.getLogger(__name__)


def _wrote_since_opt_out(participant: Participant) -> bool:
    """True when an opted-out participant has written again since (they are answered)."""
    if participant.opted_out_at is None:
        return False
    with session_scope() as session:
        latest = latest_inbound_at(session=session, participant_id=participant.id)
    return latest is not None and latest >= participant.opted_out_at


async def _log(participant: Participant, text: str, status: str, **details: str | None) -> int:
    return await asyncio.to_thread(partial(log_outbound, participant, text, status, **details))


class ParticipantMessenger:
    """Sends texts to a participant on the channel they use."""

    def __init__(
        self, *, sms: TwilioSmsClient | None = None, telegram: TelegramClient | None = None
    ) -> None:
        self._sms = sms
        self._telegram = telegram
        self._own_telegram = False

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, telegram: TelegramClient | None = None
    ) -> ParticipantMessenger:
        """Clients for the enabled channels (a Telegram client may be shared with the caller)."""
        settings = settings or get_settings()
        sms = TwilioSmsClient.from_settings(settings) if settings.twilio_enabled else None
        messenger = cls(sms=sms, telegram=telegram)
        if telegram is None and settings.telegram_enabled:
            messenger._telegram = TelegramClient.from_settings(settings)
            messenger._own_telegram = True
        return messenger

    async def aclose(self) -> None:
        """Close the Telegram client if this messenger made it."""
        if self._own_telegram and self._telegram is not None:
            await self._telegram.aclose()

    async def send(
        self, participant: Participant, texts: Sequence[str], *, sent_by: str | None = None
    ) -> list[Outcome]:
        """Send texts in order; `sent_by` names the staff member who typed them."""
        if participant.channel is Channel.WEB:
            return [
                Outcome(await _log(participant, text, QUEUED, sent_by=sent_by), QUEUED)
                for text in texts
            ]
        client = self._client_for(participant.channel)
        if client is None:
            logger.warning(
                "handoff: %s is not enabled; message to %s not sent",
                participant.channel.value,
                participant.study_id,
            )
            error = f"{participant.channel.value} is not enabled"
            return [
                Outcome(await _log(participant, text, FAILED, error=error, sent_by=sent_by), FAILED)
                for text in texts
            ]
        parts = self._parts(participant, texts)
        answered = await asyncio.to_thread(_wrote_since_opt_out, participant)
        return await deliver(client, participant, parts, ignore_opt_out=answered, sent_by=sent_by)

    def _client_for(self, channel: Channel) -> ChannelClient | None:
        if channel is Channel.SMS:
            return self._sms
        if channel is Channel.TELEGRAM:
            return self._telegram
        return None

    @staticmethod
    def _parts(participant: Participant, texts: Sequence[str]) -> list[str]:
        if participant.channel is not Channel.SMS:
            return list(texts)
        return [part for text in texts for part in split_for_sms(text)]
