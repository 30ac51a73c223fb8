"""The SMS channel's staff hook: texts from a staff member's phone.

A text from a number that belongs to an active staff user never reaches the assistant.
`ACK <code>` acknowledges that alert (a code that matches no alert acknowledges nothing,
and they are told so), `TAKE <code>` takes the participant's conversation over, `DONE`
hands it back, and any other text goes to the one participant they are talking with.
Answers go back by SMS.
"""

from __future__ import annotations

import logging

from bot.alerts.sms_staff import SmsStaffSender
from bot.clients.base import SendError
from bot.clients.twilio_sms import TwilioSmsClient
from bot.core.settings import SettingsError
from bot.handoff import staff_commands
from bot.handoff.service import open_handoffs

logger = logging.getLogger(__name__)

VIA = "sms"
# Carrier keywords (Twilio acts on them itself): never passed on to a participant.
CARRIER_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "START", "UNSTOP"}
)


async def handle_staff_sms(
    *, username: str, phone: str, text: str, log_id: int, client: TwilioSmsClient
) -> None:
    """Do what the staff member's text asks and answer them by SMS."""
    try:
        answer = await _answer(username, text.strip())
    except SettingsError as error:
        answer = staff_commands.not_configured(error)
    if not answer:
        return
    try:
        await SmsStaffSender(client).send(phone, answer)
    except SendError as error:
        logger.warning("twilio: answer to staff message (log %s) not sent: %s", log_id, error)


async def _answer(username: str, text: str) -> str | None:
    if ack := staff_commands.ACK_COMMAND.fullmatch(text):
        return await staff_commands.acknowledge_by_code(
            username=username, code=ack.group(1), via=VIA
        )
    if take := staff_commands.TAKE_COMMAND.fullmatch(text):
        escalation_id = await staff_commands.escalation_for_code(take.group(1))
        if escalation_id is None:
            return f"No alert has the code {take.group(1).upper()}."
        async with open_handoffs() as handoffs:
            return await staff_commands.take_over(
                handoffs, username=username, escalation_id=escalation_id, via=VIA
            )
    if staff_commands.DONE_COMMAND.fullmatch(text):
        async with open_handoffs() as handoffs:
            return await staff_commands.hand_back(handoffs, username=username, via=VIA)
    if text.upper() in CARRIER_KEYWORDS:
        return None
    if not text or text.upper() in ("HELP", "?"):
        return staff_commands.help_text(VIA)
    target = staff_commands.only_one(await staff_commands.own_handoffs(username), VIA)
    if isinstance(target, str):
        return target
    async with open_handoffs() as handoffs:
        return await staff_commands.relay(
            handoffs, username=username, handoff=target, text=text, via=VIA
        )
