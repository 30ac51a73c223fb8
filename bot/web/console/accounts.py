"""Console pages for accounts: your own (password, time zone) and, for admins, everyone's.

- /console/password: change your password (the current one is needed). A user signed in
  with a one-time password is sent here from every other page until they have; the
  session goes on with the new password, and their other sessions end.
- /console/account: the same, and the time zone the console shows you times in.
- /console/users (admins): every user with role, active and last sign-in; add a user (a
  one-time password is made and shown once), reset a password (the same), deactivate or
  reactivate (never delete), each with an optional reason; all audited.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from bot.db.models import StaffRole
from bot.db.session import session_scope
from bot.staff.audit import MAX_REASON_LENGTH
from bot.staff.auth import (
    MIN_PASSWORD_LENGTH,
    StaffUserError,
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
    check_csrf,
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

csrf_checked = Depends(check_csrf)
account_holder = Depends(signed_in_or_changing_password)
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
    """The password form (and, once the password is the user's own, the time zone)."""
    context = {
        "next": safe_next(next_page),
        "error": error,
        "forced": user.must_change_password,
        "min_length": MIN_PASSWORD_LENGTH,
        "timezone": user.timezone or "",
        "site_timezone": site_timezone(),
    }
    page_user = None if user.must_change_password else user
    return render(request, "account.html", context, user=page_user, status_code=status_code)


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
