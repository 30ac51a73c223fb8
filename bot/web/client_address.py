"""The client's address: X-Forwarded-For is believed only from the proxies in TRUSTED_PROXIES.

`ClientAddressMiddleware` sets the ASGI scope's client to the address the request came
from, by uvicorn's own rules (`ProxyHeadersMiddleware`): behind a trusted proxy, the
last address in X-Forwarded-For that is not itself a trusted proxy; from anyone else,
the connection's own address, whatever the headers say. With TRUSTED_PROXIES empty (the
default) no header is believed, so a client cannot pick the address its requests are
counted under. `trialbot run` starts uvicorn with the same `--forwarded-allow-ips`
(uvicorn's own default would trust 127.0.0.1), so both layers agree.
"""

from __future__ import annotations

from typing import Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bot.core.settings import get_settings


class ClientAddressMiddleware:
    """Resolve the client address from the trusted proxies' headers (none by default)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._by_setting: dict[str, ASGIApp] = {}

    def _resolver(self, trusted: str) -> ASGIApp:
        """uvicorn's middleware for this TRUSTED_PROXIES value (made once per value)."""
        resolver = self._by_setting.get(trusted)
        if resolver is None:
            # uvicorn types the ASGI interface more narrowly than Starlette; it is the same.
            resolver = cast(ASGIApp, ProxyHeadersMiddleware(cast(Any, self.app), trusted))
            self._by_setting[trusted] = resolver
        return resolver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with its client address resolved."""
        resolver = self._resolver(get_settings().trusted_proxies)
        await resolver(scope, receive, send)
