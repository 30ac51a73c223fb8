"""Staff alert addresses proven by their owner: a check code sent there, typed in the console.

On their own account page a signed-in user asks for a code on each paging channel that is
enabled (SMS when Twilio is set up, Telegram when the bot is) and on which their account
has an address. A random 6-digit code goes to that address through the same client and
sender staff alerts use, in a short staff text that names no participant; the user types
it on the same page and the address is verified (`phone_verified_at`,
`telegram_chat_verified_at`). Nobody can verify an address for someone else, and nothing
skips the code.

Only an argon2id hash of the code is stored (as passwords are, so the comparison is the
hasher's, in constant time), with the keyed hash of the address it went to (a code sent
to an address that has since changed is void), an expiry (CODE_LIFETIME) and the tries so
far: after MAX_TRIES wrong ones a new code is needed. Asking again replaces the code.
Every send, failed send, success and failed try is audited, never with the code or the
address; neither is ever logged.

Changing an address (bot.staff.auth.change_alert_addresses) clears its verification.
bot.alerts.coverage counts only verified addresses on an enabled paging channel.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.alerts.planning import has_address
from bot.alerts.sms_staff import SmsStaffSender
from bot.alerts.telegram_staff import TelegramStaffSender
from bot.clients.base import SendError
from bot.core.crypto import decrypt
from bot.core.settings import Settings, SettingsError
from bot.db.models import AlertChannel, StaffAddressCheck, StaffUser
from bot.db.session import in_session_async
from bot.db.types import utcnow
from bot.staff import audit, auth
from bot.staff.audit import AuditAction

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_TRIES = 5
PAGING_CHANNELS = (AlertChannel.SMS, AlertChannel.TELEGRAM)
CHANNEL_NAMES = {AlertChannel.SMS: "SMS", AlertChannel.TELEGRAM: "Telegram"}


class CheckError(Exception):
    """A check code cannot be sent or taken; the message is for the staff member."""


@dataclass(frozen=True)
class AddressState:
    """One of the user's alert addresses on an enabled paging channel, as their page shows it."""

    channel: AlertChannel
    name: str
    verified_at: datetime | None
    code_waiting: bool


@dataclass(frozen=True)
class CheckResult:
    """What typing a code did: `verified`, else why not (for the staff member)."""

    verified: bool
    message: str


def check_text(code: str) -> str:
    """The text that carries a check code (staff language; names no participant)."""
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    return f"Trial Companion: your check code is {code}. It works for {minutes} minutes."


def new_code() -> str:
    """A random 6-digit code."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def verified_at(user: StaffUser, channel: AlertChannel) -> datetime | None:
    """When the user proved their address on a channel (None: not verified, or none)."""
    if not has_address(user, channel):
        return None
    if channel is AlertChannel.SMS:
        return user.phone_verified_at
    if channel is AlertChannel.TELEGRAM:
        return user.telegram_chat_verified_at
    return None


def is_verified(user: StaffUser, channel: AlertChannel) -> bool:
    """True when the user has an address on the channel and proved it reaches them."""
    return verified_at(user, channel) is not None


def _address_hash(user: StaffUser, channel: AlertChannel) -> str | None:
    return user.phone_hash if channel is AlertChannel.SMS else user.telegram_chat_id_hash


def _encrypted_address(user: StaffUser, channel: AlertChannel) -> str | None:
    if channel is AlertChannel.SMS:
        return user.phone_encrypted
    return user.telegram_chat_id_encrypted


def _waiting_check(
    session: Session, user: StaffUser, channel: AlertChannel
) -> StaffAddressCheck | None:
    """The code sent to the user's current address on a channel, if one waits."""
    check = session.execute(
        select(StaffAddressCheck).where(
            StaffAddressCheck.staff_user_id == user.id, StaffAddressCheck.channel == channel
        )
    ).scalar_one_or_none()
    if check is None or check.address_hash != _address_hash(user, channel):
        return None
    return check


def address_states(
    *, session: Session, user_id: int, enabled: Collection[AlertChannel], now: datetime
) -> list[AddressState]:
    """The user's addresses on the enabled paging channels, verified or not."""
    user = auth.get_user(session=session, user_id=user_id)
    if user is None:
        return []
    states = []
    for channel in PAGING_CHANNELS:
        if channel not in enabled or not has_address(user, channel):
            continue
        check = _waiting_check(session, user, channel)
        waiting = check is not None and check.expires_at > now and check.attempts < MAX_TRIES
        states.append(
            AddressState(channel, CHANNEL_NAMES[channel], verified_at(user, channel), waiting)
        )
    return states


def _record(
    session: Session, user: StaffUser, action: AuditAction, channel: AlertChannel, what: str
) -> None:
    audit.record(
        session=session,
        actor=user.username,
        action=action,
        detail=f"{CHANNEL_NAMES[channel]} address: {what}",
    )


def _user(session: Session, user_id: int) -> StaffUser:
    user = auth.get_user(session=session, user_id=user_id)
    if user is None or not user.active:
        raise CheckError("there is no such user")
    return user


def _address_to_check(
    session: Session, user_id: int, channel: AlertChannel, enabled: Collection[AlertChannel]
) -> str:
    """The address a code would go to, decrypted just now (CheckError: none to check)."""
    if channel not in PAGING_CHANNELS or channel not in enabled:
        raise CheckError(f"{channel.value} alerts are not set up here")
    token = _encrypted_address(_user(session, user_id), channel)
    if not token:
        raise CheckError(f"your account has no {CHANNEL_NAMES[channel]} address")
    return decrypt(token)


def _store_code(
    session: Session, user_id: int, channel: AlertChannel, code: str, now: datetime
) -> None:
    """Keep the code's hash (replacing any earlier code) and audit the send."""
    user = _user(session, user_id)
    session.execute(
        delete(StaffAddressCheck).where(
            StaffAddressCheck.staff_user_id == user.id, StaffAddressCheck.channel == channel
        )
    )
    session.add(
        StaffAddressCheck(
            staff_user_id=user.id,
            channel=channel,
            address_hash=_address_hash(user, channel),
            code_hash=auth.hash_password(code),
            expires_at=now + CODE_LIFETIME,
            attempts=0,
            created_at=now,
        )
    )
    _record(session, user, AuditAction.ADDRESS_CHECK_SENT, channel, "check code sent")


def _record_send_failure(
    session: Session, user_id: int, channel: AlertChannel, reason: str
) -> None:
    _record(
        session,
        _user(session, user_id),
        AuditAction.ADDRESS_CHECK_SEND_FAILED,
        channel,
        f"check code not sent ({reason})",
    )


async def _send(settings: Settings, channel: AlertChannel, address: str, text: str) -> None:
    """Send a text through the staff alert sender of the channel; raises SendError."""
    if channel is AlertChannel.SMS:
        from bot.clients.twilio_sms import TwilioSmsClient

        await SmsStaffSender(TwilioSmsClient.from_settings(settings)).send(address, text)
        return
    from bot.clients.telegram_bot import TelegramClient

    telegram = TelegramStaffSender(TelegramClient.from_settings(settings))
    try:
        await telegram.send_notice(address, text)
    finally:
        await telegram.aclose()


async def send_check_code(
    *,
    settings: Settings,
    user_id: int,
    channel: AlertChannel,
    enabled: Collection[AlertChannel],
    now: datetime | None = None,
) -> None:
    """Send a new check code to the user's own address on a channel; CheckError when it
    cannot be sent (recorded: the audit log says why, never the code)."""
    address = await in_session_async(
        lambda session: _address_to_check(session, user_id, channel, enabled)
    )
    code = new_code()
    try:
        await _send(settings, channel, address, check_text(code))
    except (SendError, SettingsError) as error:
        reason = str(error) if isinstance(error, SendError) else "the channel is not set up"
        logger.warning("staff user %s: %s check code not sent: %s", user_id, channel.value, reason)
        await in_session_async(
            lambda session: _record_send_failure(session, user_id, channel, reason)
        )
        message = f"the code could not be sent by {CHANNEL_NAMES[channel]}: {reason}"
        raise CheckError(message) from error
    sent_at = now or utcnow()
    await in_session_async(lambda session: _store_code(session, user_id, channel, code, sent_at))
    logger.info("staff user %s: %s check code sent", user_id, channel.value)


def confirm_code(
    *, session: Session, user_id: int, channel: AlertChannel, code: str, now: datetime
) -> CheckResult:
    """Take a typed code: the address is verified when it is the one sent, in time and
    within MAX_TRIES; each outcome is audited (a wrong try counts, and is kept)."""
    if channel not in PAGING_CHANNELS:
        raise CheckError(f"{channel.value} addresses are not checked")
    user = _user(session, user_id)
    check = _waiting_check(session, user, channel)
    name = CHANNEL_NAMES[channel]
    if check is None:
        return _refused(session, user, channel, "no code was sent to this address", name)
    if check.expires_at <= now:
        return _refused(session, user, channel, "the code had expired", name)
    if check.attempts >= MAX_TRIES:
        return _refused(session, user, channel, "too many tries", name)
    check.attempts += 1
    if not auth.verify_password(check.code_hash, code.strip()):
        left = MAX_TRIES - check.attempts
        _record(
            session,
            user,
            AuditAction.ADDRESS_CHECK_FAILED,
            channel,
            f"wrong code (try {check.attempts} of {MAX_TRIES})",
        )
        if not left:
            return CheckResult(False, "That is not the code. Ask for a new code.")
        return CheckResult(False, f"That is not the code: {left} more tries with this code.")
    if channel is AlertChannel.SMS:
        user.phone_verified_at = now
    else:
        user.telegram_chat_verified_at = now
    session.delete(check)
    _record(session, user, AuditAction.ADDRESS_VERIFIED, channel, "verified")
    logger.info("staff user %s: %s address verified", user.id, channel.value)
    return CheckResult(True, f"Your {name} address is verified.")


def _refused(
    session: Session, user: StaffUser, channel: AlertChannel, why: str, name: str
) -> CheckResult:
    """A try not even compared: audited, and the user is told to ask for a new code."""
    _record(session, user, AuditAction.ADDRESS_CHECK_FAILED, channel, why)
    return CheckResult(False, f"Not verified: {why}. Ask for a new code by {name}.")
