"""Enrolling participants (the CLI and the staff console call this) and finding them again.

Phone numbers are checked and stored in E.164, encrypted; a Telegram participant gets an
enrollment code to send as `/start <code>`, which links their chat. Each participant's
visits are planned from the study's schedule and their enrollment date.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.core.crypto import address_digest, decrypt, encrypt
from bot.core.languages import DEFAULT_LANGUAGE, LANGUAGES
from bot.db.models import Appointment, Channel, Participant
from bot.db.repository import (
    enroll_participant,
    get_participant_by_address_hash,
    get_participant_by_enrollment_code,
    get_participant_by_study_id,
)
from bot.db.types import utcnow
from bot.study.config import StudyConfig

STUDY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Easy to read out over the phone: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


class EnrollmentError(ValueError):
    """The enrollment details are not valid; the message says which and why."""


@dataclass(frozen=True)
class Enrollment:
    """A new participant, and the code a Telegram participant links their chat with."""

    participant: Participant
    enrollment_code: str | None


def normalise_phone(raw: str) -> str:
    """A phone number in E.164 (+15555550100), or EnrollmentError."""
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as error:
        raise EnrollmentError(
            f"phone number {raw!r} is not valid: give it with + and the country code"
        ) from error
    if not phonenumbers.is_possible_number(number):
        raise EnrollmentError(f"phone number {raw!r} is not a possible number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_timezone(name: str) -> str:
    """An IANA time zone name (America/Chicago), or EnrollmentError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise EnrollmentError(f"time zone {name!r} is not known (e.g. America/Chicago)") from error
    return name


def parse_clock(text: str) -> time:
    """A local time of day as HH:MM, or EnrollmentError."""
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if not match:
        raise EnrollmentError(f"time {text!r} must be HH:MM, e.g. 18:00")
    return time(int(match.group(1)), int(match.group(2)))


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def enroll(
    *,
    session: Session,
    study: StudyConfig,
    study_id: str,
    channel: Channel,
    timezone_name: str,
    phone: str | None = None,
    checkin_time: time | None = None,
    language: str | None = None,
    enrolled_on: date | None = None,
) -> Enrollment:
    """Enroll a participant on SMS (phone needed) or Telegram (gets a code); plan visits.

    `language` ("en", "es") is what staff chose; None: read from their first message.
    """
    if language is not None and language not in LANGUAGES:
        raise EnrollmentError(f"language {language!r}: use one of {', '.join(LANGUAGES)}")
    if not STUDY_ID_PATTERN.fullmatch(study_id):
        raise EnrollmentError(f"study ID {study_id!r}: use letters, digits, - and _ only")
    if get_participant_by_study_id(session=session, study_id=study_id) is not None:
        raise EnrollmentError(f"study ID {study_id} is already enrolled")
    check_timezone(timezone_name)
    encrypted = digest = code = None
    if channel is Channel.SMS:
        if not phone:
            raise EnrollmentError("an SMS participant needs a phone number")
        number = normalise_phone(phone)
        digest = address_digest(Channel.SMS.value, number)
        if get_participant_by_address_hash(session=session, address_hash=digest) is not None:
            raise EnrollmentError("this phone number is already enrolled")
        encrypted = encrypt(number)
    elif channel is Channel.TELEGRAM:
        code = _new_code()
    else:
        raise EnrollmentError("participants are enrolled on SMS or Telegram")
    participant = enroll_participant(
        session=session,
        study_id=study_id,
        channel=channel,
        address_encrypted=encrypted,
        address_hash=digest,
        enrollment_code=code,
        timezone=timezone_name,
        preferred_contact_time=checkin_time or study.checkins.default_time,
        language=language or DEFAULT_LANGUAGE,
        language_source=None if language is None else "enrollment",
    )
    start = enrolled_on or datetime.now(ZoneInfo(timezone_name)).date()
    plan_visits(session=session, study=study, participant=participant, start=start)
    return Enrollment(participant, code)


def plan_visits(
    *, session: Session, study: StudyConfig, participant: Participant, start: date
) -> list[Appointment]:
    """One appointment per visit of the schedule, at the study's visit time, local to them."""
    zone = ZoneInfo(participant.timezone)
    appointments = []
    for visit in study.visits:
        local = datetime.combine(
            start + timedelta(days=visit.day), study.visit_reminders.default_time, tzinfo=zone
        )
        appointment = Appointment(
            participant_id=participant.id,
            visit_key=visit.key,
            scheduled_at=local.astimezone(timezone.utc),
        )
        session.add(appointment)
        appointments.append(appointment)
    session.flush()
    return appointments


def link_telegram_chat(*, session: Session, code: str, chat_id: str) -> Participant | None:
    """Link a Telegram chat to the participant the code was given to (the code is used up)."""
    participant = get_participant_by_enrollment_code(session=session, code=code.strip().upper())
    if participant is None or participant.channel is not Channel.TELEGRAM:
        return None
    participant.address_encrypted = encrypt(chat_id)
    participant.address_hash = address_digest(Channel.TELEGRAM.value, chat_id)
    participant.enrollment_code = None
    session.flush()
    return participant


def participant_for_address(
    *, session: Session, channel: Channel, address: str
) -> Participant | None:
    """The participant a phone number (E.164) or Telegram chat ID belongs to."""
    if channel is Channel.SMS:
        try:
            address = normalise_phone(address)
        except EnrollmentError:
            return None
    return get_participant_by_address_hash(
        session=session, address_hash=address_digest(channel.value, address)
    )


def address_of(participant: Participant) -> str | None:
    """The participant's phone number or chat ID, decrypted (None until a chat is linked)."""
    return decrypt(participant.address_encrypted) if participant.address_encrypted else None


def set_opted_out(*, session: Session, participant_id: int, opted_out: bool) -> bool:
    """Opt a participant out of everything the assistant sends on its own (or back in:
    `opted_out=False`); False when they already were. Replies to their own messages still
    go out (bot.messaging.delivery)."""
    unchanged = (
        Participant.opted_out_at.is_(None) if opted_out else Participant.opted_out_at.is_not(None)
    )
    result = session.execute(
        update(Participant)
        .where(Participant.id == participant_id, unchanged)
        .values(opted_out_at=utcnow() if opted_out else None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)
