"""Participant -> staff during a handoff: the staff member learns there is a new message.

Staff who took over in the console read the conversation there (the live chat polls the
message log). Staff who took over by Telegram or SMS get a notice on that channel with the
study ID and a link to the live chat: never the participant's words (product safety rule
5: nothing a participant writes leaves the system). They answer by replying on Telegram or
by SMS (bot.handoff.staff_telegram, bot.handoff.staff_sms).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.alerts.sms_staff import SmsStaffSender
from bot.alerts.telegram_staff import TelegramStaffSender
from bot.alerts.texts import handoff_url, new_message_notice
from bot.clients.base import SendError
from bot.clients.telegram_bot import TelegramClient
from bot.clients.twilio_sms import TwilioSmsClient
from bot.core.crypto import decrypt
from bot.core.settings import Settings, get_settings
from bot.db.models import StaffUser
from bot.db.repository import get_participant_by_sender
from bot.db.session import session_scope
from bot.handoff.repository import active_handoff

logger = logging.getLogger(__name__)

CONSOLE, TELEGRAM, SMS = "console", "telegram", "sms"


@dataclass(frozen=True)
class Notice:
    """Where a new-message notice goes, and what it says."""

    handoff_id: int
    via: str
    address: str
    text: str


def _notice(sender_id: str, base_url: str) -> Notice | None:
    """The notice for the holder of the conversation's handoff (None: none is needed)."""
    with session_scope() as session:
        participant = get_participant_by_sender(session=session, sender_id=sender_id)
        if participant is None:
            return None
        handoff = active_handoff(session=session, participant_id=participant.id)
        if handoff is None or handoff.via not in (TELEGRAM, SMS):
            return None
        user = session.get(StaffUser, handoff.staff_user_id)
        token = None
        if user is not None:
            token = (
                user.telegram_chat_id_encrypted if handoff.via == TELEGRAM else user.phone_encrypted
            )
        if token is None:
            return None
        text = new_message_notice(
            study_id=handoff.study_id,
            url=handoff_url(base_url, handoff.handoff_id),
            telegram=handoff.via == TELEGRAM,
        )
        return Notice(handoff.handoff_id, handoff.via, decrypt(token), text)


async def notify_staff_of_message(
    *,
    sender_id: str,
    settings: Settings | None = None,
    telegram: TelegramClient | None = None,
) -> bool:
    """Tell the staff member in a handoff that the participant wrote; True if a notice went."""
    settings = settings or get_settings()
    notice = await asyncio.to_thread(_notice, sender_id, settings.web_url)
    if notice is None:
        return False
    try:
        if notice.via == TELEGRAM:
            await _by_telegram(notice, settings, telegram)
        else:
            await _by_sms(notice, settings)
    except SendError as error:
        logger.warning("handoff %s: new-message notice not sent: %s", notice.handoff_id, error)
        return False
    logger.info("handoff %s: new-message notice sent by %s", notice.handoff_id, notice.via)
    return True


async def _by_telegram(notice: Notice, settings: Settings, client: TelegramClient | None) -> None:
    if client is not None:
        await TelegramStaffSender(client).send_notice(notice.address, notice.text)
        return
    if not settings.telegram_enabled:
        raise SendError("Telegram is not enabled", permanent=True)
    sender = TelegramStaffSender(TelegramClient.from_settings(settings))
    try:
        await sender.send_notice(notice.address, notice.text)
    finally:
        await sender.aclose()


async def _by_sms(notice: Notice, settings: Settings) -> None:
    if not settings.twilio_enabled:
        raise SendError("SMS is not enabled", permanent=True)
    await SmsStaffSender(TwilioSmsClient.from_settings(settings)).send(notice.address, notice.text)
