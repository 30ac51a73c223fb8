"""Staff users: argon2id password hashes, sign-in with throttling, and alert addresses.

Sign-in takes the same time whether or not the username exists (an unknown user is checked
against a dummy hash). Failed attempts are stored in the database, so throttling holds
across processes. It slows an attacker down without locking the real user out:

- per username and address: after FAILURES_BEFORE_BACKOFF failures from one address
  within BACKOFF_MEMORY, that address must wait before trying that username again,
  BACKOFF_START at first, doubled with each further failure, at most MAX_BACKOFF; a
  successful sign-in from there starts the count again. The same user signing in from
  another address is not slowed down.
- per address: after MAX_FAILURES_PER_IP failures from one address (any usernames)
  within the window, that address may not try again until the window has passed, except
  for a user who signed in from there before (within KNOWN_ADDRESS_AGE): a ward behind
  one hospital address is not locked out by one guesser among them.

Nothing is permanent: failures older than BACKOFF_MEMORY or the window are forgotten.

A password someone else set (`trialbot create-user`, an admin adding a user or resetting
their password) is one-time: `must_change_password` is set, and the console lets the user
do nothing but choose their own (`change_password`). Users are never deleted: an admin
deactivates them (`set_active`), which refuses sign-in, ends their sessions and stops
their alerts (bot.alerts.planning pages active users only).

Where a user's alerts go (a phone number, a Telegram chat ID) is set when they are created
and changed with `change_alert_addresses`; an address that changes is no longer verified
(the person proves an address by typing a code sent there: bot.alerts.verification).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Mapped, Session

from bot.core.crypto import address_digest, encrypt
from bot.db.models import Channel, SignInAttempt, StaffRole, StaffUser
from bot.db.types import utcnow
from bot.participants.enrollment import EnrollmentError, normalise_phone
from bot.staff import audit
from bot.staff.audit import AuditAction

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
GENERATED_PASSWORD_BYTES = 12  # 16 characters
FAILURES_BEFORE_BACKOFF = 5
BACKOFF_START = timedelta(seconds=30)
# Higher than per username: a whole ward may share one address behind the hospital's NAT.
MAX_FAILURES_PER_IP = 20
RATE_LIMIT_WINDOW = timedelta(minutes=15)
MAX_BACKOFF = timedelta(minutes=15)
BACKOFF_MEMORY = timedelta(hours=1)
KNOWN_ADDRESS_AGE = timedelta(days=30)
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
TELEGRAM_CHAT_ID_PATTERN = re.compile(r"-?\d{1,20}")

# argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile); parameters are stored
# in each hash, and a hash made with weaker ones is upgraded at the next sign-in.
password_hasher = PasswordHasher()


class StaffUserError(ValueError):
    """A staff user's details are not valid; the message says which and why."""


@dataclass(frozen=True)
class SignInResult:
    """The signed-in user, or None; `rate_limited` when the attempt was not even checked,
    and then `retry_after`: how long until it may be."""

    user: StaffUser | None
    rate_limited: bool = False
    retry_after: timedelta | None = None


def hash_password(password: str) -> str:
    """An argon2id hash of the password, in argon2's encoded form."""
    return password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches the hash."""
    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash no password matches, checked for unknown users to keep timing the same."""
    return hash_password(secrets.token_urlsafe(32))


def check_password_rules(password: str, *, username: str | None = None) -> None:
    """Raise StaffUserError unless the password is long enough (and not absurdly long), and
    not the username."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffUserError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise StaffUserError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters")
    if username and username.strip().lower() in password.strip().lower():
        raise StaffUserError("the password must not contain the username")


def generate_password() -> str:
    """A random password to be shown once and changed at the first sign-in."""
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


def password_stamp(user: StaffUser) -> str:
    """A short fingerprint of the user's password hash: a session started before the
    password changed carries another one, and ends (bot.web.console.access)."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def normalise_username(username: str) -> str:
    """A username in lower case, or StaffUserError."""
    name = username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(name):
        raise StaffUserError(
            "a username is 2-64 characters: letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit)"
        )
    return name


def get_user(*, session: Session, user_id: int) -> StaffUser | None:
    """A staff user by ID."""
    return session.get(StaffUser, user_id)


def get_user_by_username(*, session: Session, username: str) -> StaffUser | None:
    """A staff user by username (any case)."""
    return session.execute(
        select(StaffUser).where(StaffUser.username == username.strip().lower())
    ).scalar_one_or_none()


def list_users(*, session: Session) -> list[StaffUser]:
    """Every staff user, by username."""
    return list(session.execute(select(StaffUser).order_by(StaffUser.username)).scalars())


def user_for_phone(*, session: Session, phone: str) -> StaffUser | None:
    """The active staff user an SMS comes from (for `ACK <code>` replies), if any."""
    try:
        number = normalise_phone(phone)
    except EnrollmentError:
        return None
    digest = address_digest(Channel.SMS.value, number)
    return session.execute(
        select(StaffUser).where(StaffUser.phone_hash == digest, StaffUser.active.is_(True))
    ).scalar_one_or_none()


def user_for_telegram_chat(*, session: Session, chat_id: str) -> StaffUser | None:
    """The active staff user a Telegram chat belongs to (for alert buttons), if any."""
    digest = address_digest(Channel.TELEGRAM.value, chat_id.strip())
    return session.execute(
        select(StaffUser).where(
            StaffUser.telegram_chat_id_hash == digest, StaffUser.active.is_(True)
        )
    ).scalar_one_or_none()


def create_user(
    *,
    session: Session,
    actor: str,
    username: str,
    display_name: str,
    role: StaffRole,
    password: str,
    phone: str | None = None,
    telegram_chat_id: str | None = None,
    must_change_password: bool = False,
) -> StaffUser:
    """Create a console user (audited as `actor`); StaffUserError says what is wrong.

    `must_change_password`: the password is one-time (someone else knows it).
    """
    name = normalise_username(username)
    display = display_name.strip()
    if not display or len(display) > 128:
        raise StaffUserError("the display name must be 1-128 characters")
    check_password_rules(password, username=name)
    if get_user_by_username(session=session, username=name) is not None:
        raise StaffUserError(f"the username {name} is taken")
    user = StaffUser(
        username=name,
        display_name=display,
        role=role,
        password_hash=hash_password(password),
        active=True,
        must_change_password=must_change_password,
    )
    _set_alert_addresses(session=session, user=user, phone=phone, telegram_chat_id=telegram_chat_id)
    session.add(user)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action=AuditAction.USER_CREATED,
        detail=f"created {role.value} user {name}"
        + ("; one-time password" if must_change_password else ""),
    )
    logger.info("staff user %s created (%s, role %s)", user.id, name, role.value)
    return user


def _user_or_error(*, session: Session, user_id: int) -> StaffUser:
    """The staff user with this ID, or StaffUserError."""
    user = get_user(session=session, user_id=user_id)
    if user is None:
        raise StaffUserError("there is no such user")
    return user


def change_password(*, session: Session, user_id: int, current: str, new: str) -> StaffUser:
    """The user chooses their own password (the current one is needed); audited.

    Clears `must_change_password`. StaffUserError says what is wrong: the current password,
    the rules (check_password_rules), or a new password that is the current one.
    """
    user = _user_or_error(session=session, user_id=user_id)
    if not verify_password(user.password_hash, current[:MAX_PASSWORD_LENGTH]):
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.PASSWORD_CHANGE_FAILED,
            detail="the current password was wrong",
        )
        raise StaffUserError("the current password is not right")
    check_password_rules(new, username=user.username)
    if new == current:
        raise StaffUserError("choose a new password, not the one you have now")
    was_one_time = user.must_change_password
    user.password_hash = hash_password(new)
    user.must_change_password = False
    audit.record(
        session=session,
        actor=user.username,
        action=AuditAction.PASSWORD_CHANGED,
        detail="replaced a one-time password" if was_one_time else "changed their password",
    )
    logger.info("staff user %s changed their password", user.id)
    return user


def reset_password(*, session: Session, actor: str, user_id: int, reason: str = "") -> str:
    """An admin gives the user a new one-time password (returned, to be shown once); their
    sessions end. Audited as `actor`."""
    user = _user_or_error(session=session, user_id=user_id)
    password = generate_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    audit.record(
        session=session,
        actor=actor,
        action=AuditAction.PASSWORD_RESET,
        detail=f"one-time password set for {user.username}",
        reason=reason,
    )
    logger.info("staff user %s: password reset by an admin", user.id)
    return password


def set_active(
    *, session: Session, actor: str, user_id: int, active: bool, reason: str = ""
) -> bool:
    """Deactivate or reactivate a user (never deleted); True when it changed. Audited.

    A deactivated user cannot sign in, their sessions end and no alert is planned for them.
    StaffUserError when an admin would deactivate themselves or the last active admin.
    """
    user = _user_or_error(session=session, user_id=user_id)
    if user.active == active:
        return False
    if not active:
        _check_may_deactivate(session=session, actor=actor, user=user)
    user.active = active
    audit.record(
        session=session,
        actor=actor,
        action=AuditAction.USER_REACTIVATED if active else AuditAction.USER_DEACTIVATED,
        detail=f"user {user.username}",
        old={"active": "yes" if not active else "no"},
        new={"active": "yes" if active else "no"},
        reason=reason,
    )
    logger.info("staff user %s %s", user.id, "reactivated" if active else "deactivated")
    return True


def _check_may_deactivate(*, session: Session, actor: str, user: StaffUser) -> None:
    """StaffUserError when deactivating this user would lock the admins out."""
    if user.username == actor.strip().lower():
        raise StaffUserError("you cannot deactivate yourself; ask another admin")
    if user.role is StaffRole.ADMIN:
        admins = session.execute(
            select(func.count(StaffUser.id)).where(
                StaffUser.role == StaffRole.ADMIN, StaffUser.active.is_(True)
            )
        ).scalar_one()
        if admins <= 1:
            raise StaffUserError("this is the last active admin")


def set_timezone(*, session: Session, user_id: int, timezone_name: str | None) -> StaffUser:
    """The zone the console shows the user times in (None: the study site's). Audited."""
    user = _user_or_error(session=session, user_id=user_id)
    name = (timezone_name or "").strip() or None
    if name is not None:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise StaffUserError(f"{name!r} is not a time zone (e.g. America/Chicago)") from error
    if name != user.timezone:
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.USER_SETTINGS_CHANGED,
            old={"timezone": user.timezone or "site"},
            new={"timezone": name or "site"},
        )
        user.timezone = name
    return user


def change_alert_addresses(
    *, session: Session, actor: str, user_id: int, phone: str, telegram_chat_id: str
) -> StaffUser:
    """Set where the user's alerts go (an empty value removes that address); an address
    that changes is no longer verified. Audited as `actor`, never with the address."""
    user = _user_or_error(session=session, user_id=user_id)
    before = {"phone": user.phone_hash, "telegram chat": user.telegram_chat_id_hash}
    _set_alert_addresses(session=session, user=user, phone=phone, telegram_chat_id=telegram_chat_id)
    after = {"phone": user.phone_hash, "telegram chat": user.telegram_chat_id_hash}
    changed = [name for name in before if before[name] != after[name]]
    if changed:
        audit.record(
            session=session,
            actor=actor,
            action=AuditAction.USER_ADDRESSES_CHANGED,
            detail=f"alert addresses of {user.username}",
            old={name: "set" if before[name] else "none" for name in changed},
            new={name: "set, not verified" if after[name] else "none" for name in changed},
        )
        logger.info("staff user %s: alert addresses changed (%s)", user.id, ", ".join(changed))
    return user


def _set_alert_addresses(
    *, session: Session, user: StaffUser, phone: str | None, telegram_chat_id: str | None
) -> None:
    """Store where the user's alerts go, encrypted, with keyed hashes to recognise replies
    (None: leave as is; empty: remove). A changed address is no longer verified."""
    if phone is not None:
        number = _normalised_phone(phone) if phone.strip() else None
        digest = address_digest(Channel.SMS.value, number) if number else None
        if digest != user.phone_hash:
            if digest and _address_holder(session, StaffUser.phone_hash, digest) is not None:
                raise StaffUserError("another staff user has this phone number")
            user.phone_encrypted = encrypt(number) if number else None
            user.phone_hash = digest
            user.phone_verified_at = None
    if telegram_chat_id is not None:
        chat_id = telegram_chat_id.strip() or None
        if chat_id and not TELEGRAM_CHAT_ID_PATTERN.fullmatch(chat_id):
            raise StaffUserError("a Telegram chat ID is a number, e.g. 123456789")
        digest = address_digest(Channel.TELEGRAM.value, chat_id) if chat_id else None
        if digest != user.telegram_chat_id_hash:
            column = StaffUser.telegram_chat_id_hash
            if digest and _address_holder(session, column, digest) is not None:
                raise StaffUserError("another staff user has this Telegram chat")
            user.telegram_chat_id_encrypted = encrypt(chat_id) if chat_id else None
            user.telegram_chat_id_hash = digest
            user.telegram_chat_verified_at = None


def _normalised_phone(phone: str) -> str:
    """A phone number in E.164, or StaffUserError."""
    try:
        return normalise_phone(phone)
    except EnrollmentError as error:
        raise StaffUserError(str(error)) from error


def _address_holder(session: Session, column: Mapped[str | None], digest: str) -> StaffUser | None:
    """The user, active or not, whose address has this keyed hash (they are unique)."""
    return session.execute(select(StaffUser).where(column == digest)).scalar_one_or_none()


def _last_success(*, session: Session, username: str, ip: str) -> datetime | None:
    """When the username last signed in from this address, if ever."""
    return session.execute(
        select(func.max(SignInAttempt.at)).where(
            SignInAttempt.username == username,
            SignInAttempt.ip == ip,
            SignInAttempt.success.is_(True),
        )
    ).scalar_one_or_none()


def _backoff(*, session: Session, username: str, ip: str, since: datetime) -> datetime | None:
    """When this address may try this username again, if it must wait (module doc)."""
    count, last = session.execute(
        select(func.count(SignInAttempt.id), func.max(SignInAttempt.at)).where(
            SignInAttempt.username == username,
            SignInAttempt.ip == ip,
            SignInAttempt.success.is_(False),
            SignInAttempt.at > since,
        )
    ).one()
    if count < FAILURES_BEFORE_BACKOFF or last is None:
        return None
    doublings = min(int(count) - FAILURES_BEFORE_BACKOFF, 16)
    return last + min(BACKOFF_START * 2**doublings, MAX_BACKOFF)


def _address_blocked_until(*, session: Session, ip: str, since: datetime) -> datetime | None:
    """When an address with too many failures in the window may try again, if it must wait."""
    times = session.execute(
        select(SignInAttempt.at)
        .where(
            SignInAttempt.ip == ip,
            SignInAttempt.success.is_(False),
            SignInAttempt.at > since,
        )
        .order_by(SignInAttempt.at.desc())
        .limit(MAX_FAILURES_PER_IP)
    ).scalars()
    recent = list(times)
    if len(recent) < MAX_FAILURES_PER_IP:
        return None
    return recent[-1] + RATE_LIMIT_WINDOW


def retry_after(*, session: Session, username: str, ip: str, now: datetime) -> timedelta | None:
    """None when this sign-in may be checked now; else how long the address must wait."""
    since = now - RATE_LIMIT_WINDOW
    last_success = _last_success(session=session, username=username, ip=ip)
    remembered = now - BACKOFF_MEMORY
    if last_success is not None:
        remembered = max(remembered, last_success)
    waits = [_backoff(session=session, username=username, ip=ip, since=remembered)]
    if last_success is None or last_success < now - KNOWN_ADDRESS_AGE:
        waits.append(_address_blocked_until(session=session, ip=ip, since=since))
    until = max((moment for moment in waits if moment is not None), default=None)
    return until - now if until is not None and until > now else None


def sign_in(
    *, session: Session, username: str, password: str, ip: str, now: datetime | None = None
) -> SignInResult:
    """Check a username and password, within the rate limit; every attempt is recorded."""
    now = now or utcnow()
    name = username.strip().lower()[:64]
    ip = ip[:64]
    wait = retry_after(session=session, username=name, ip=ip, now=now)
    if wait is not None:
        logger.warning("sign-in refused: too many failures from one address")
        audit.record(
            session=session,
            actor=name or "unknown",
            action=AuditAction.SIGN_IN_REFUSED,
            detail=f"too many failed sign-ins; from {ip}",
        )
        return SignInResult(user=None, rate_limited=True, retry_after=wait)
    user = get_user_by_username(session=session, username=name) if name else None
    candidate = user if user is not None and user.active else None
    password = password[:MAX_PASSWORD_LENGTH]
    matches = verify_password(candidate.password_hash if candidate else _dummy_hash(), password)
    succeeded = candidate is not None and matches
    session.add(SignInAttempt(username=name, ip=ip, at=now, success=succeeded))
    if candidate is None or not succeeded:
        audit.record(
            session=session,
            actor=name or "unknown",
            action=AuditAction.SIGN_IN_FAILED,
            detail=f"wrong username or password; from {ip}",
        )
        return SignInResult(user=None)
    candidate.last_sign_in_at = now
    if password_hasher.check_needs_rehash(candidate.password_hash):
        candidate.password_hash = hash_password(password)
    audit.record(session=session, actor=name, action=AuditAction.SIGN_IN, detail=f"from {ip}")
    logger.info("staff user %s signed in", candidate.id)
    return SignInResult(user=candidate)
