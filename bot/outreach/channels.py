"""Which client sends on which channel, and which Rasa channel carries a triggered check-in."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.clients.base import ChannelClient
from bot.core.settings import Settings
from bot.db.models import Channel

logger = logging.getLogger(__name__)

# The name of each participant channel's input channel in Rasa (credentials.yml): the
# `output_channel` of a triggered intent. Web chat gets no proactive messages.
RASA_OUTPUT_CHANNELS: Mapping[Channel, str] = {
    Channel.SMS: "twilio",
    Channel.TELEGRAM: "telegram",
}


def channel_clients(settings: Settings) -> dict[Channel, ChannelClient]:
    """A client for each participant channel whose credentials are set (none call out yet)."""
    clients: dict[Channel, ChannelClient] = {}
    if settings.twilio_enabled:
        from bot.clients.twilio_sms import TwilioSmsClient

        clients[Channel.SMS] = TwilioSmsClient.from_settings(settings)
    else:
        logger.info("outreach: SMS is not enabled (Twilio settings missing)")
    if settings.telegram_enabled:
        from bot.clients.telegram_bot import TelegramClient

        clients[Channel.TELEGRAM] = TelegramClient.from_settings(settings)
    else:
        logger.info("outreach: Telegram is not enabled (Telegram settings missing)")
    return clients


async def close_clients(clients: Mapping[Channel, ChannelClient]) -> None:
    """Close the clients' HTTP connections, for those that keep any."""
    for client in clients.values():
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()
