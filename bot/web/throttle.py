"""Per-address rate limits of the web app (the `limits` library, in this process's memory).

`RateLimitMiddleware` counts every request to the chat API, the chat's update polling,
the console sign-in form and the console as a whole against the limits in the settings
(CHAT_RATE_LIMIT, CHAT_UPDATES_RATE_LIMIT, SIGN_IN_RATE_LIMIT, CONSOLE_RATE_LIMIT);
the chat endpoint also counts messages from senders it has not seen before
(CHAT_NEW_SENDER_LIMIT) with `hit`. A request over a limit gets 429 with Retry-After and
a short message (JSON for the APIs), before its body is read.

The address is the client's as `bot.web.client_address` resolved it (a proxy's
X-Forwarded-For is believed only from TRUSTED_PROXIES); an IPv6 client counts by its /64
network, which one subscriber usually holds whole. The counts live in this process: with
several web-app processes each has its own (the sign-in's own limit in bot.staff.auth is
kept in the database and holds across processes).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.core.settings import Settings, get_settings

logger = logging.getLogger(__name__)

IPV6_PREFIX = 64
TOO_MANY = "Too many requests. Please wait {wait}, then try again."


@dataclass(frozen=True)
class Rule:
    """Requests one setting limits: a method (None: any) and a path (or everything under it)."""

    name: str
    setting: str
    path: str
    method: str | None = None
    under: bool = False

    def matches(self, method: str, path: str) -> bool:
        """True when the request is one this rule counts."""
        if self.method is not None and method != self.method:
            return False
        if self.under:
            return path == self.path or path.startswith(self.path + "/")
        return path == self.path


RULES = (
    Rule("chat", "chat_rate_limit", "/api/chat", method="POST"),
    Rule("chat-updates", "chat_updates_rate_limit", "/api/chat/updates", method="GET"),
    Rule("sign-in", "sign_in_rate_limit", "/console/sign-in", method="POST"),
    Rule("console", "console_rate_limit", "/console", under=True),
)
NEW_SENDER = Rule("chat-new-sender", "chat_new_sender_limit", "/api/chat", method="POST")


class _Limiter:
    """The counts, kept in memory by the `limits` library (fixed windows)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every count (tests start from none)."""
        self.storage = MemoryStorage()
        self.strategy = FixedWindowRateLimiter(self.storage)


_limiter = _Limiter()


def reset() -> None:
    """Forget every count."""
    _limiter.reset()


@lru_cache(maxsize=32)
def _items(text: str) -> tuple[RateLimitItem, ...]:
    """A setting's limits ("10/minute;100/hour"); none for an empty setting."""
    return tuple(parse_many(text)) if text.strip() else ()


def address_key(host: str) -> str:
    """What an address is counted as: itself, or its /64 network for IPv6."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


def client_host(scope: Scope) -> str:
    """The request's client address as the ASGI scope has it ("unknown" without one)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def hit(rule: Rule, host: str, settings: Settings | None = None) -> int | None:
    """Count one request under a rule; None when allowed, else the seconds to wait."""
    settings = settings or get_settings()
    key = address_key(host)
    for item in _items(getattr(settings, rule.setting)):
        if not _limiter.strategy.hit(item, rule.name, key):
            reset_at, _ = _limiter.strategy.get_window_stats(item, rule.name, key)
            logger.warning("rate limit %s (%s) reached by one address", rule.name, item)
            return max(1, math.ceil(reset_at - time.time()))
    return None


def wait_words(seconds: float) -> str:
    """A wait as people say it: "30 seconds", "4 minutes"."""
    whole = max(1, math.ceil(seconds))
    if whole < 90:
        return "1 second" if whole == 1 else f"{whole} seconds"
    return f"{math.ceil(whole / 60)} minutes"


def too_many_requests(path: str, retry_after: int) -> Response:
    """429 with Retry-After: JSON {"error": ...} for the APIs, a line of text otherwise."""
    message = TOO_MANY.format(wait=wait_words(retry_after))
    headers = {"Retry-After": str(retry_after)}
    if path.startswith("/api/") or path.startswith("/console/api/"):
        return JSONResponse({"error": message}, status_code=429, headers=headers)
    return PlainTextResponse(message, status_code=429, headers=headers)


class RateLimitMiddleware:
    """Refuse a request over any limit its rules set for its address (429, body unread)."""

    def __init__(self, app: ASGIApp, rules: tuple[Rule, ...] = RULES) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request under every rule that matches it; refuse it if one says so."""
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            settings = get_settings()
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                retry_after = hit(rule, client_host(scope), settings)
                if retry_after is not None:
                    await too_many_requests(path, retry_after)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
