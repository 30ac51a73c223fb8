"""The Telegram channel's staff hook: alert buttons, commands and replies from staff.

An update is from staff when the Telegram user who sent it (in their own chat or in the
staff group) is an active staff user's linked chat; staff updates never reach the
assistant. They are logged once by update ID, like participants' (a retried webhook is a
duplicate). What staff can do:

- "Acknowledge" under an alert (`ack:<id>`), or `ACK <code>`: acknowledges it (first
  wins; others are told who has it);
- "Take over the chat" (`take:<id>`), or `TAKE <code>`: a handoff (bot.handoff.service);
- a reply to an alert: sent to that participant (taking the conversation over if nobody
  has); in their own chat, any other text goes to the one participant they are talking
  with; in the group, only replies to alerts are sent on (staff talk among themselves there);
- `/done` (as a reply to an alert, or alone): hands the conversation back.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

from sqlalchemy.exc import IntegrityError
from telegram import Chat, Update

from bot.alerts.repository import delivery_by_external_id
from bot.alerts.telegram_staff import ACK_PREFIX, TAKE_PREFIX
from bot.clients.base import SendError
from bot.clients.telegram_bot import TelegramClient, chat_key
from bot.core.settings import SettingsError
from bot.db.models import AlertChannel, Channel, Direction
from bot.db.repository import log_message
from bot.db.session import session_scope
from bot.handoff import staff_commands
from bot.handoff.service import open_handoffs
from bot.staff.auth import user_for_telegram_chat

logger = logging.getLogger(__name__)

VIA = "telegram"
RECEIVED = "received"
START_OR_HELP = ("/start", "/help")


@dataclass(frozen=True)
class StaffUpdate:
    """An update from a staff member: who, where, and what they sent or pressed."""

    update_id: int
    username: str
    chat_id: str
    private: bool
    text: str
    button: bool = False
    callback_query_id: str | None = None
    # The bot's message they replied to (an alert, to reach its participant).
    reply_to_message_id: int | None = None
    duplicate: bool = False


def _read(update: Update, username: str) -> StaffUpdate | None:
    chat = update.effective_chat
    if chat is None:
        return None
    private = chat.type == Chat.PRIVATE
    query = update.callback_query
    if query is not None:
        return StaffUpdate(
            update.update_id, username, str(chat.id), private, query.data or "", True, query.id
        )
    message = update.message
    if message is None or not message.text:
        return None
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    return StaffUpdate(
        update.update_id,
        username,
        str(chat.id),
        private,
        message.text,
        reply_to_message_id=reply_to,
    )


def staff_update_for(update: Update) -> StaffUpdate | None:
    """The update as a staff member's (logged once), or None when it is not from staff."""
    person = update.effective_user
    if person is None or person.is_bot:
        return None
    with session_scope() as session:
        user = user_for_telegram_chat(session=session, chat_id=str(person.id))
        if user is None:
            return None
        staff = _read(update, user.username)
        if staff is None:
            return None
        user_id = user.id
    try:
        with session_scope() as session:
            log_message(
                session=session,
                sender_id=staff_commands.staff_sender_id(user_id),
                channel=Channel.TELEGRAM,
                direction=Direction.INBOUND,
                text=staff.text,
                external_id=f"update:{update.update_id}",
                delivery_status=RECEIVED,
            )
    except IntegrityError:
        return replace(staff, duplicate=True)
    return staff


def _alert_escalation_id(chat_id: str, message_id: int) -> int | None:
    """The escalation of the alert a staff member replied to (None: not one of our alerts)."""
    with session_scope() as session:
        delivery = delivery_by_external_id(
            session=session,
            channel=AlertChannel.TELEGRAM,
            external_id=f"{chat_key(chat_id)}:{message_id}",
        )
        return delivery.escalation_id if delivery else None


async def handle_staff_update(staff: StaffUpdate, client: TelegramClient) -> None:
    """Do what the staff member asked and answer them in the same chat."""
    if staff.callback_query_id is not None:
        try:
            await client.answer_callback(staff.callback_query_id)
        except SendError as error:
            logger.warning(
                "telegram: staff update %s: button not answered: %s", staff.update_id, error
            )
    try:
        answer = await _answer(staff, client)
    except SettingsError as error:
        answer = staff_commands.not_configured(error)
    if not answer:
        return
    try:
        await client.send_plain(staff.chat_id, answer)
    except SendError as error:
        logger.warning("telegram: staff update %s: answer not sent: %s", staff.update_id, error)


def _button_target(data: str, prefix: str) -> int | None:
    number = data[len(prefix) :]
    return int(number) if data.startswith(prefix) and number.isdigit() else None


async def _answer(staff: StaffUpdate, client: TelegramClient) -> str | None:
    text = staff.text.strip()
    if staff.button:
        return await _pressed(staff, client, text)
    if staff_commands.DONE_COMMAND.fullmatch(text):
        return await _done(staff, client)
    if ack := staff_commands.ACK_COMMAND.fullmatch(text):
        return await staff_commands.acknowledge_by_code(
            username=staff.username, code=ack.group(1), via=VIA
        )
    if take := staff_commands.TAKE_COMMAND.fullmatch(text):
        escalation_id = await staff_commands.escalation_for_code(take.group(1))
        if escalation_id is None:
            return f"No alert has the code {take.group(1).upper()}."
        async with open_handoffs(telegram=client) as handoffs:
            return await staff_commands.take_over(
                handoffs,
                username=staff.username,
                escalation_id=escalation_id,
                via=VIA,
                in_group=not staff.private,
            )
    if text.split("@")[0].lower() in START_OR_HELP:
        return staff_commands.help_text(VIA)
    return await _message(staff, client, text)


async def _pressed(staff: StaffUpdate, client: TelegramClient, data: str) -> str | None:
    """A press of Acknowledge or Take over under an alert."""
    if (escalation_id := _button_target(data, ACK_PREFIX)) is not None:
        changed, answer = await staff_commands.acknowledge_by_id(
            username=staff.username, escalation_id=escalation_id, via=VIA
        )
        # In the group, everyone who got the alert hears from the alert worker instead.
        return answer if staff.private or not changed else None
    if (escalation_id := _button_target(data, TAKE_PREFIX)) is not None:
        async with open_handoffs(telegram=client) as handoffs:
            return await staff_commands.take_over(
                handoffs,
                username=staff.username,
                escalation_id=escalation_id,
                via=VIA,
                in_group=not staff.private,
            )
    return None


async def _done(staff: StaffUpdate, client: TelegramClient) -> str:
    handoff = None
    if staff.reply_to_message_id is not None:
        escalation_id = await _escalation_replied_to(staff)
        if escalation_id is not None:
            handoff = await staff_commands.handoff_of_escalation(escalation_id)
    async with open_handoffs(telegram=client) as handoffs:
        return await staff_commands.hand_back(
            handoffs, username=staff.username, via=VIA, handoff=handoff
        )


async def _escalation_replied_to(staff: StaffUpdate) -> int | None:
    if staff.reply_to_message_id is None:
        return None
    return await asyncio.to_thread(_alert_escalation_id, staff.chat_id, staff.reply_to_message_id)


async def _message(staff: StaffUpdate, client: TelegramClient, text: str) -> str | None:
    """Text for a participant: a reply to an alert, or (own chat) to their one conversation."""
    escalation_id = await _escalation_replied_to(staff)
    if escalation_id is not None:
        async with open_handoffs(telegram=client) as handoffs:
            return await staff_commands.relay_to_escalation(
                handoffs, username=staff.username, escalation_id=escalation_id, text=text, via=VIA
            )
    if not staff.private:
        return None  # staff talking among themselves in the group
    target = staff_commands.only_one(await staff_commands.own_handoffs(staff.username), VIA)
    if isinstance(target, str):
        return target
    async with open_handoffs(telegram=client) as handoffs:
        return await staff_commands.relay(
            handoffs, username=staff.username, handoff=target, text=text, via=VIA
        )
