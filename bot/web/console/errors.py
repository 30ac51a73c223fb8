"""What the web app answers when a request cannot be served: pages people can act on.

- Not signed in, or the session expired (a form posted after the cookie expired): the
  sign-in form, then back to the page they were on (`next=`, a console path only).
- A one-time password: the password page first, then back to the page.
- A wrong address (404), a role that may not (403), a bad ID or form value (422), a fault
  (500): an HTML page that says what happened and links back, for the console and the
  rest of the site alike.
- JSON stays JSON for the JSON routes (`/api/...`, `/console/api/...`): FastAPI's own
  answers there, and the console API's `{"error": ...}`.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from markupsafe import escape
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from bot.web.console.access import (
    ConsoleError,
    ConsoleUser,
    PasswordChangeRequired,
    SignInRequired,
    flash,
    is_api,
    safe_next,
    signed_in_user,
)
from bot.web.console.sessions import CONSOLE_PATH
from bot.web.console.templating import render

logger = logging.getLogger(__name__)

QUEUE_PATH = CONSOLE_PATH + "/queue"
PASSWORD_PATH = CONSOLE_PATH + "/password"
SIGN_IN_PATH = CONSOLE_PATH + "/sign-in"
SESSION_EXPIRED = "Your session had ended, so nothing was changed. Sign in to go on."
TITLES = {
    403: "Not allowed",
    404: "Page not found",
    405: "Not possible here",
    422: "That address or form is not right",
    500: "Something went wrong",
}
MESSAGES = {
    404: "There is no page at this address. It may have been mistyped, or the item is gone.",
    405: "This address cannot be used that way.",
    500: "Something went wrong on our side; it was logged. Nothing you did caused it. "
    "Please try again in a minute.",
}
SITE_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>{title}</title></head><body><h1>{title}</h1><p>{message}</p>"
    '<p><a href="/">Back to the start page</a></p></body></html>'
)


def _is_json_route(request: Request) -> bool:
    """True for the JSON routes (the chat API and the console API)."""
    return request.url.path.startswith("/api/") or is_api(request)


def _is_console(request: Request) -> bool:
    path = request.url.path
    return path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")


def _has_page(request: Request, path: str) -> bool:
    """True when a GET of this path reaches a route of the app."""
    scope = {"type": "http", "path": path, "root_path": "", "method": "GET"}
    for route in request.app.router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return True
    return False


def page_of(request: Request) -> str:
    """The console page a request belongs to: itself for a GET (with its query), else the
    nearest page above the form's address (/console/escalations/3/acknowledge:
    /console/escalations/3)."""
    if request.method == "GET":
        query = request.url.query
        return safe_next(request.url.path + (f"?{query}" if query else ""))
    path = request.url.path
    while path.startswith(CONSOLE_PATH + "/"):
        if _has_page(request, path):
            return safe_next(path)
        path = path.rsplit("/", 1)[0]
    return QUEUE_PATH


def _back(request: Request, user: ConsoleUser | None) -> str:
    """Where the error page's link goes: the nearest page above, else the queue/sign-in."""
    path = request.url.path.rsplit("/", 1)[0]
    while path.startswith(CONSOLE_PATH + "/"):
        if _has_page(request, path):
            return path
        path = path.rsplit("/", 1)[0]
    return QUEUE_PATH if user is not None else SIGN_IN_PATH


def _user_or_none(request: Request) -> ConsoleUser | None:
    """The signed-in user for the error page's header, if that can be known."""
    try:
        user = signed_in_user(request)
    except Exception:  # the fault may be the database itself
        logger.warning("error page: could not tell who is signed in")
        return None
    return None if user is None or user.must_change_password else user


def error_page(request: Request, status_code: int, message: str) -> Response:
    """An HTML page for an error: the console's (with a link back) or the site's."""
    title = TITLES.get(status_code, "Cannot do that")
    if not _is_console(request):
        page = SITE_PAGE.format(title=escape(title), message=escape(message))
        return HTMLResponse(page, status_code=status_code)
    user = _user_or_none(request)
    context = {"title": title, "message": message, "back": _back(request, user)}
    return render(request, "error.html", context, user=user, status_code=status_code)


async def sign_in_required(request: Request, error: Exception) -> Response:
    """401 for the API; for pages, the sign-in form, then back to the page they were on."""
    if is_api(request):
        return JSONResponse({"error": "sign in first"}, status_code=401)
    page = page_of(request)
    if request.method != "GET":
        flash(request, SESSION_EXPIRED)
        if request.url.path == SIGN_IN_PATH:  # the sign-in form itself had expired
            form = await request.form()
            page = safe_next(str(form.get("next") or ""))
    target = urlencode({"next": page})
    return RedirectResponse(f"{SIGN_IN_PATH}?{target}", status_code=303)


async def password_change_required(request: Request, error: Exception) -> Response:
    """403 for the API; for pages, the password page, then back to the page."""
    if is_api(request):
        return JSONResponse({"error": "change your one-time password first"}, status_code=403)
    target = urlencode({"next": page_of(request)})
    return RedirectResponse(f"{PASSWORD_PATH}?{target}", status_code=303)


async def console_error(request: Request, error: Exception) -> Response:
    """A console error as a page (or JSON for the API), with its status code."""
    if not isinstance(error, ConsoleError):
        raise error
    if is_api(request):
        return JSONResponse({"error": error.message}, status_code=error.status_code)
    return error_page(request, error.status_code, error.message)


async def http_error(request: Request, error: Exception) -> Response:
    """A wrong address or method: a page (FastAPI's JSON on the JSON routes)."""
    if not isinstance(error, HTTPException):
        raise error
    if _is_json_route(request) or error.status_code < 400:
        return await http_exception_handler(request, error)
    message = MESSAGES.get(error.status_code) or str(error.detail)
    return error_page(request, error.status_code, message)


def _field_problem(detail: dict[str, object]) -> str:
    """One validation problem in words: where (the field) and what (never the value)."""
    location = detail.get("loc") or ()
    field = str(location[-1]) if isinstance(location, (list, tuple)) and location else "value"
    return f"{field.replace('_', ' ')}: {detail.get('msg', 'not valid')}"


async def validation_error(request: Request, error: Exception) -> Response:
    """A bad ID in the address or a bad form value: a page saying which (422)."""
    if not isinstance(error, RequestValidationError):
        raise error
    if _is_json_route(request):
        return await request_validation_exception_handler(request, error)
    problems = "; ".join(_field_problem(detail) for detail in error.errors())
    message = f"The address or form has a value that cannot be used ({problems})."
    return error_page(request, 422, message)


async def server_error(request: Request, error: Exception) -> Response:
    """A fault: logged (type and path, never the request's data) and a page saying so."""
    logger.error("unhandled %s on %s %s", type(error).__name__, request.method, request.url.path)
    if _is_json_route(request):
        return JSONResponse({"error": "internal error"}, status_code=500)
    return error_page(request, 500, MESSAGES[500])


def install_error_pages(app: FastAPI) -> None:
    """Register the handlers above on the app."""
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(PasswordChangeRequired, password_change_required)
    app.add_exception_handler(ConsoleError, console_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)
