"""Request bodies over MAX_REQUEST_BYTES are refused (413) before they are read.

A request that declares a larger Content-Length is answered at once, its body never
read. A body without one (chunked) is counted as it arrives, and reading stops with 413
as soon as the count passes the limit, so no request makes the web app hold more than
the limit (plus one chunk) in memory.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.core.settings import get_settings

logger = logging.getLogger(__name__)

TOO_LARGE = "Request too large: at most {limit} bytes."


class RequestTooLarge(HTTPException):
    """The body passed the limit while it was read (an HTTPException: the app answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=TOO_LARGE.format(limit=limit))


def _declared_length(scope: Scope) -> int | None:
    """The Content-Length header's value; None without one, -1 when it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = PlainTextResponse(
        TOO_LARGE.format(limit=limit), status_code=413, headers={"Connection": "close"}
    )
    await response(scope, receive, send)


class BodySizeLimitMiddleware:
    """413 for a body over the limit: by its Content-Length, or counted as it streams in."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count what is read."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = get_settings().max_request_bytes
        declared = _declared_length(scope)
        if declared is not None and (declared < 0 or declared > limit):
            logger.warning("request refused: body of %s bytes (limit %s)", declared, limit)
            await _refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    logger.warning("request refused: body passed %s bytes while read", limit)
                    raise RequestTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except RequestTooLarge:
            if started:
                raise
            await _refuse(scope, receive, send, limit)
