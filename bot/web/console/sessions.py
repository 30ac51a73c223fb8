"""Console sessions: a signed cookie (Starlette's SessionMiddleware) and security headers.

The cookie is limited to /console, HttpOnly, SameSite=Strict, Secure when the public URL
is https, and expires after IDLE_TIMEOUT without a request; a sign-in also ends after
ABSOLUTE_TIMEOUT (checked in bot.web.console.access). Its key is SECRET_KEY; with the
embedded SQLite default and no key set, one is made once and kept under DATA_DIR (0600).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from datetime import timedelta
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.core.settings import Settings, SettingsError, require_secret

logger = logging.getLogger(__name__)

CONSOLE_PATH = "/console"
COOKIE_NAME = "trialbot_console"
IDLE_TIMEOUT = timedelta(hours=1)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
KEY_FILE_NAME = "session.key"
MIN_SECRET_KEY_LENGTH = 32

# Pages with participant data: never cached, never framed, no referrer, own origin only.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}

_lock = threading.Lock()


def _local_key(settings: Settings) -> str:
    """The key kept under DATA_DIR for the embedded default, made on first use."""
    path = settings.data_dir / KEY_FILE_NAME
    with _lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            logger.info("made a new session key at %s (set SECRET_KEY in production)", path)
        return path.read_text().strip()


def session_secret_key(settings: Settings) -> str:
    """SECRET_KEY, else (SQLite only) the local key file; SettingsError if neither will do."""
    if settings.secret_key:
        key = require_secret("SECRET_KEY", settings.secret_key)
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise SettingsError(
                f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return key
    if settings.is_sqlite:
        return _local_key(settings)
    raise SettingsError("SECRET_KEY must be set when DATABASE_URL is not the embedded SQLite")


def cookie_options(settings: Settings) -> dict[str, Any]:
    """SessionMiddleware's options for the console cookie."""
    return {
        "secret_key": session_secret_key(settings),
        "session_cookie": COOKIE_NAME,
        "max_age": int(IDLE_TIMEOUT.total_seconds()),
        "path": CONSOLE_PATH,
        "same_site": "strict",
        "https_only": settings.web_url.startswith("https://"),
    }


class ConsoleMiddleware:
    """Sessions and security headers under /console; every other path passes straight by."""

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        self.app = app
        self.sessions = SessionMiddleware(self._with_headers, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route console requests through the session middleware."""
        if scope["type"] != "http" or not _is_console(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        await self.sessions(scope, receive, send)

    async def _with_headers(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the security headers to every console response."""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_console(path: str) -> bool:
    """True for /console and everything under it."""
    return path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")
