"""The staff console: server-rendered pages under /console for study staff and researchers.

`mount_console(app)` adds it to the web app: the session middleware (signed cookie), the
pages, and the handlers that turn "not signed in" and "not allowed" into responses.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.responses import Response

from bot.core.settings import get_settings
from bot.web.console.access import ConsoleError, SignInRequired, is_api, signed_in_user
from bot.web.console.handoff import router as handoff_router
from bot.web.console.ledger import router as ledger_router
from bot.web.console.research import router as research_router
from bot.web.console.review import router as review_router
from bot.web.console.routes import router
from bot.web.console.sessions import CONSOLE_PATH, ConsoleMiddleware, cookie_options
from bot.web.console.templating import render


async def _sign_in_required(request: Request, error: Exception) -> Response:
    """401 for the API; for pages, the sign-in form, then back to the page asked for."""
    if is_api(request):
        return JSONResponse({"error": "sign in first"}, status_code=401)
    target = f"{CONSOLE_PATH}/queue"
    if request.method == "GET":
        query = request.url.query
        target = request.url.path + (f"?{query}" if query else "")
    return RedirectResponse(
        f"{CONSOLE_PATH}/sign-in?{urlencode({'next': target})}", status_code=303
    )


async def _console_error(request: Request, error: Exception) -> Response:
    """A console error as a page (or JSON for the API), with its status code."""
    if not isinstance(error, ConsoleError):
        raise error
    if is_api(request):
        return JSONResponse({"error": error.message}, status_code=error.status_code)
    user = signed_in_user(request)
    return render(
        request, "error.html", {"message": error.message}, user=user, status_code=error.status_code
    )


def mount_console(app: FastAPI) -> None:
    """Serve the console under /console (SettingsError now if SECRET_KEY will not do)."""
    app.add_middleware(ConsoleMiddleware, **cookie_options(get_settings()))
    app.include_router(router)
    app.include_router(handoff_router)
    app.include_router(ledger_router)
    app.include_router(research_router)
    app.include_router(review_router)
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(ConsoleError, _console_error)
