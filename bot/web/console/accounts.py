"""Console pages for accounts: your own (password, time zone) and, for admins, everyone's.

- /console/password: change your password (the current one is needed). A user signed in
  with a one-time password is sent here from every other page until they have; the
  session goes on with the new password, and their other sessions end.
- /console/account: the same, the time zone the console shows you times in, and where your
  alerts go: your phone number and Telegram chat ID (a changed one is no longer verified)
  and, on each paging channel that is enabled, whether you have verified it, a button that
  sends you a check code there and the form to type it in (bot.alerts.verification).
  Nobody verifies an address for someone else.
- /console/users (admins): every user with role, active, alert addresses (verified or not)
  and last sign-in; add a user (a
  one-time password is made and shown once), reset a password (the same), deactivate or
  reactivate (never delete), each with an optional reason; all audited.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from bot.alerts.coverage import enabled_channels
from bot.alerts.verification import (
    CODE_DIGITS,
    PAGING_CHANNELS,
    CheckError,
    address_states,
    confirm_code,
    send_check_code,
)
from bot.core.crypto import decrypt
from bot.core.settings import get_settings
from bot.db.models import AlertChannel, StaffRole
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.staff.audit import MAX_REASON_LENGTH
from bot.staff.auth import (
    MIN_PASSWORD_LENGTH,
    StaffUserError,
    change_alert_addresses,
    change_password,
    create_user,
    generate_password,
    get_user,
    list_users,
    reset_password,
    set_active,
    set_timezone,
)
from bot.staff.permissions import Permission
from bot.web.console.access import (
    ConsoleUser,
    NotFound,
    check_csrf,
    current_user,
    flash,
    require,
    safe_next,
    signed_in_or_changing_password,
    start_session,
)
from bot.web.console.sessions import CONSOLE_PATH
from bot.web.console.templating import render, site_timezone

router = APIRouter(prefix=CONSOLE_PATH)

USERS_PATH = CONSOLE_PATH + "/users"
ACCOUNT_PATH = CONSOLE_PATH + "/account"

csrf_checked = Depends(check_csrf)
account_holder = Depends(signed_in_or_changing_password)
signed_in = Depends(current_user)
user_manager = Depends(require(Permission.MANAGE_USERS))


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# --- your own account -------------------------------------------------------------------


def _account_page(
    request: Request,
    user: ConsoleUser,
    *,
    next_page: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The password form (and, once the password is the user's own, the time zone and
    alert addresses)."""
    context: dict[str, object] = {
        "next": safe_next(next_page),
        "error": error,
        "forced": user.must_change_password,
        "min_length": MIN_PASSWORD_LENGTH,
        "timezone": user.timezone or "",
        "site_timezone": site_timezone(),
    }
    if not user.must_change_password:
        context.update(_alert_addresses(user))
    page_user = None if user.must_change_password else user
    return render(request, "account.html", context, user=page_user, status_code=status_code)


def _alert_addresses(user: ConsoleUser) -> dict[str, object]:
    """The user's own alert addresses, and the verification state of each on an enabled
    paging channel."""
    with session_scope() as session:
        stored = get_user(session=session, user_id=user.id)
        states = address_states(
            session=session,
            user_id=user.id,
            enabled=enabled_channels(get_settings()),
            now=utcnow(),
        )
        phone = stored.phone_encrypted if stored else None
        chat = stored.telegram_chat_id_encrypted if stored else None
    return {
        "phone": decrypt(phone) if phone else "",
        "telegram_chat_id": decrypt(chat) if chat else "",
        "addresses": states,
        "code_digits": CODE_DIGITS,
    }


@router.get("/password")
@router.get("/account")
def account_page(
    request: Request, next: str | None = None, user: ConsoleUser = account_holder
) -> Response:
    """Change your password (the only page a user with a one-time password may see)."""
    return _account_page(request, user, next_page=next)


@router.post("/password", dependencies=[csrf_checked])
def change_password_submit(
    request: Request,
    current: str = Form(..., max_length=2000),
    new: str = Form(..., max_length=2000),
    again: str = Form(..., max_length=2000),
    next: str = Form(""),
    user: ConsoleUser = account_holder,
) -> Response:
    """Change the password; this session goes on, the user's other sessions end."""
    try:
        if new != again:
            raise StaffUserError("the two new passwords are not the same")
        with session_scope() as session:
            changed = change_password(session=session, user_id=user.id, current=current, new=new)
            start_session(request, changed)
    except StaffUserError as error:
        message = f"Not changed: {error}."
        return _account_page(request, user, next_page=next, error=message, status_code=400)
    flash(request, "Your password is changed.")
    return _see_other(safe_next(next))


@router.post("/account/timezone", dependencies=[csrf_checked])
def timezone_submit(
    request: Request,
    timezone: str = Form("", max_length=64),
    user: ConsoleUser = account_holder,
) -> Response:
    """The zone the console shows you times in (empty: the study site's)."""
    try:
        with session_scope() as session:
            set_timezone(session=session, user_id=user.id, timezone_name=timezone)
    except StaffUserError as error:
        return _account_page(request, user, error=f"Not changed: {error}.", status_code=400)
    flash(request, f"Times are shown in {timezone.strip() or site_timezone()}.")
    return _see_other(f"{CONSOLE_PATH}/account")


@router.post("/account/addresses", dependencies=[csrf_checked])
def addresses_submit(
    request: Request,
    phone: str = Form("", max_length=32),
    telegram_chat_id: str = Form("", max_length=32),
    user: ConsoleUser = signed_in,
) -> Response:
    """Where your alerts go (empty: none there); a changed address must be verified again."""
    try:
        with session_scope() as session:
            change_alert_addresses(
                session=session,
                actor=user.username,
                user_id=user.id,
                phone=phone,
                telegram_chat_id=telegram_chat_id,
            )
    except StaffUserError as error:
        return _account_page(request, user, error=f"Not changed: {error}.", status_code=400)
    flash(request, "Your alert addresses are saved.")
    return _see_other(ACCOUNT_PATH)


def _paging_channel(channel: str) -> AlertChannel:
    """The paging channel a path names (NotFound for anything else)."""
    found = next((known for known in PAGING_CHANNELS if known.value == channel), None)
    if found is None:
        raise NotFound("There is no such alert channel.")
    return found


@router.post("/account/check/{channel}/send", dependencies=[csrf_checked])
async def send_check_submit(
    request: Request, channel: str, user: ConsoleUser = signed_in
) -> Response:
    """Send a check code to your own address on a channel."""
    paging = _paging_channel(channel)
    settings = get_settings()
    try:
        await send_check_code(
            settings=settings,
            user_id=user.id,
            channel=paging,
            enabled=enabled_channels(settings),
        )
    except CheckError as error:
        flash(request, f"Not sent: {error}.")
    else:
        flash(request, "A check code is on its way: type it below.")
    return _see_other(ACCOUNT_PATH)


@router.post("/account/check/{channel}", dependencies=[csrf_checked])
def confirm_check_submit(
    request: Request,
    channel: str,
    code: str = Form("", max_length=16),
    user: ConsoleUser = signed_in,
) -> Response:
    """Type the check code: the address is verified when it is the one sent."""
    paging = _paging_channel(channel)
    with session_scope() as session:
        result = confirm_code(
            session=session, user_id=user.id, channel=paging, code=code, now=utcnow()
        )
    flash(request, result.message)
    return _see_other(ACCOUNT_PATH)


# --- staff users (admins) ---------------------------------------------------------------


def _users_page(
    request: Request,
    user: ConsoleUser,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    shown_password: tuple[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The list of console users, their actions, and the form to add one.

    `shown_password`: (username, one-time password) to show this once.
    """
    with session_scope() as session:
        users = list_users(session=session)
    context = {
        "users": users,
        "roles": [role.value for role in StaffRole],
        "values": values or {"role": StaffRole.STAFF.value},
        "error": error,
        "shown_password": shown_password,
        "max_reason": MAX_REASON_LENGTH,
    }
    return render(request, "users.html", context, user=user, status_code=status_code)


@router.get("/users")
def users_page(request: Request, user: ConsoleUser = user_manager) -> Response:
    """Console users (admins only)."""
    return _users_page(request, user)


@router.post("/users", dependencies=[csrf_checked])
def create_user_submit(
    request: Request,
    username: str = Form(..., max_length=64),
    display_name: str = Form(..., max_length=128),
    role: str = Form(...),
    phone: str = Form("", max_length=32),
    telegram_chat_id: str = Form("", max_length=32),
    user: ConsoleUser = user_manager,
) -> Response:
    """Add a console user with a one-time password, shown once (admins only)."""
    values = {
        "username": username,
        "display_name": display_name,
        "role": role,
        "phone": phone,
        "telegram_chat_id": telegram_chat_id,
    }
    password = generate_password()
    try:
        staff_role = StaffRole(role)
        with session_scope() as session:
            created = create_user(
                session=session,
                actor=user.username,
                username=username,
                display_name=display_name,
                role=staff_role,
                password=password,
                phone=phone or None,
                telegram_chat_id=telegram_chat_id or None,
                must_change_password=True,
            )
            name = created.username
    except (StaffUserError, ValueError) as error:
        return _users_page(request, user, values=values, error=str(error), status_code=400)
    return _users_page(request, user, shown_password=(name, password), status_code=201)


@router.post("/users/{user_id}/reset-password", dependencies=[csrf_checked])
def reset_password_submit(
    request: Request,
    user_id: int,
    reason: str = Form("", max_length=MAX_REASON_LENGTH),
    user: ConsoleUser = user_manager,
) -> Response:
    """Give the user a new one-time password, shown once; their sessions end."""
    try:
        with session_scope() as session:
            password = reset_password(
                session=session, actor=user.username, user_id=user_id, reason=reason
            )
            target = get_user(session=session, user_id=user_id)
            name = target.username if target is not None else ""
    except StaffUserError as error:
        return _users_page(request, user, error=str(error), status_code=404)
    return _users_page(request, user, shown_password=(name, password))


def _set_active(
    request: Request, user: ConsoleUser, user_id: int, active: bool, reason: str
) -> Response:
    """Deactivate or reactivate, then back to the list with what happened."""
    try:
        with session_scope() as session:
            changed = set_active(
                session=session, actor=user.username, user_id=user_id, active=active, reason=reason
            )
    except StaffUserError as error:
        return _users_page(request, user, error=f"Not changed: {error}.", status_code=400)
    word = "reactivated" if active else "deactivated"
    flash(request, f"User {word}." if changed else f"That user was already {word}.")
    return _see_other(USERS_PATH)


@router.post("/users/{user_id}/deactivate", dependencies=[csrf_checked])
def deactivate_submit(
    request: Request,
    user_id: int,
    reason: str = Form("", max_length=MAX_REASON_LENGTH),
    user: ConsoleUser = user_manager,
) -> Response:
    """Deactivate a user: no sign-in, their sessions end, no alerts (never deleted)."""
    return _set_active(request, user, user_id, False, reason)


@router.post("/users/{user_id}/reactivate", dependencies=[csrf_checked])
def reactivate_submit(
    request: Request,
    user_id: int,
    reason: str = Form("", max_length=MAX_REASON_LENGTH),
    user: ConsoleUser = user_manager,
) -> Response:
    """Let a deactivated user sign in (and be alerted) again."""
    return _set_active(request, user, user_id, True, reason)
