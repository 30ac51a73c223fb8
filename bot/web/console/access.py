"""Who is signed in, what their role allows, and the CSRF check on every POST.

Anonymous requests raise SignInRequired (pages redirect to sign-in, /console/api/ answers
401); a user with a one-time password raises PasswordChangeRequired everywhere but the
password page; a role that lacks a permission raises Forbidden (403) and is audited. A
session ends when the user is deactivated or their password changes elsewhere (the
session carries a stamp of the password hash). The CSRF token
is one random value per session, sent back in a hidden form field (or an X-CSRF-Token
header) and compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from bot.db.models import StaffRole, StaffUser
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.staff import audit
from bot.staff.audit import AuditAction
from bot.staff.auth import get_user, password_stamp
from bot.staff.permissions import Permission, allows
from bot.web.console.sessions import ABSOLUTE_TIMEOUT, CONSOLE_PATH

logger = logging.getLogger(__name__)

API_PATH = CONSOLE_PATH + "/api/"
SESSION_USER = "user_id"
SESSION_SIGNED_IN_AT = "signed_in_at"
SESSION_CSRF = "csrf"
SESSION_STAMP = "stamp"
SESSION_FLASH = "flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in staff user, as the console needs them."""

    id: int
    username: str
    display_name: str
    role: StaffRole
    must_change_password: bool = False
    timezone: str | None = None

    def can(self, permission: Permission | str) -> bool:
        """True when the user's role has the permission."""
        return allows(self.role, Permission(permission))


class SignInRequired(Exception):
    """No valid sign-in: redirect a page to the sign-in form, answer 401 to the API."""


class PasswordChangeRequired(Exception):
    """A one-time password is in use: the password page first (403 for the API)."""


class ConsoleError(Exception):
    """A console request that cannot be served; the message is shown to the user."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(ConsoleError):
    """The user's role does not allow this, or the CSRF token is missing or wrong."""

    status_code = 403


class NotFound(ConsoleError):
    """No such escalation or participant."""

    status_code = 404


def is_api(request: Request) -> bool:
    """True for the console's JSON endpoints."""
    return request.url.path.startswith(API_PATH)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return str(token)


async def check_csrf(request: Request) -> None:
    """Refuse a POST whose CSRF token does not match the session's (403); a POST after the
    session expired (no token left) goes to sign-in, then back to its page."""
    expected = request.session.get(SESSION_CSRF)
    if not expected and not is_api(request):
        logger.info("a form came after its session expired: %s", request.url.path)
        raise SignInRequired()
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        logger.warning("CSRF check failed on %s %s", request.method, request.url.path)
        raise Forbidden("This form has expired or did not come from this site. Please try again.")


def start_session(request: Request, user: StaffUser) -> None:
    """A fresh session for the signed-in user (a new CSRF token; nothing kept from before)."""
    request.session.clear()
    request.session[SESSION_USER] = user.id
    request.session[SESSION_SIGNED_IN_AT] = int(utcnow().timestamp())
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)
    request.session[SESSION_STAMP] = password_stamp(user)


def end_session(request: Request) -> None:
    """Forget the sign-in (the cookie is cleared)."""
    request.session.clear()


def flash(request: Request, message: str) -> None:
    """A one-time message for the next page."""
    request.session[SESSION_FLASH] = message


def pop_flash(request: Request) -> str | None:
    """The one-time message, if any (removed)."""
    message = request.session.pop(SESSION_FLASH, None)
    return str(message) if message else None


def signed_in_user(request: Request) -> ConsoleUser | None:
    """The signed-in, still active user, or None (an expired sign-in, or one from before
    the password changed, is forgotten)."""
    user_id = request.session.get(SESSION_USER)
    signed_in_at = request.session.get(SESSION_SIGNED_IN_AT)
    if not isinstance(user_id, int) or not isinstance(signed_in_at, int):
        return None
    if utcnow().timestamp() - signed_in_at > ABSOLUTE_TIMEOUT.total_seconds():
        end_session(request)
        return None
    with session_scope() as session:
        user = get_user(session=session, user_id=user_id)
        stamp = request.session.get(SESSION_STAMP)
        if user is None or not user.active or stamp != password_stamp(user):
            end_session(request)
            return None
        return ConsoleUser(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            must_change_password=user.must_change_password,
            timezone=user.timezone,
        )


def signed_in_or_changing_password(request: Request) -> ConsoleUser:
    """Dependency: the signed-in user, even with a one-time password (the password page)."""
    user = signed_in_user(request)
    if user is None:
        raise SignInRequired()
    return user


def current_user(request: Request) -> ConsoleUser:
    """Dependency: the signed-in user, or SignInRequired (PasswordChangeRequired while
    their password is one-time)."""
    user = signed_in_or_changing_password(request)
    if user.must_change_password:
        raise PasswordChangeRequired()
    return user


def require(permission: Permission) -> Callable[..., ConsoleUser]:
    """Dependency factory: the signed-in user if their role has the permission, else 403."""

    def dependency(
        request: Request, user: Annotated[ConsoleUser, Depends(current_user)]
    ) -> ConsoleUser:
        if user.can(permission):
            return user
        with session_scope() as session:
            audit.record(
                session=session,
                actor=user.username,
                action=AuditAction.ACCESS_DENIED,
                detail=f"{request.method} {request.url.path} needs {permission.value}",
            )
        raise Forbidden(f"Your role ({user.role.value}) cannot do this.")

    return dependency


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path on this site, never another site."""
    default = CONSOLE_PATH + "/queue"
    if not target:
        return default
    parts = urlsplit(target)
    inside = target == CONSOLE_PATH or target.startswith(CONSOLE_PATH + "/")
    if parts.scheme or parts.netloc or "\\" in target or not inside:
        return default
    return target
