"""A cap on what a public webhook reads: 413 for a body over MAX_WEBHOOK_BYTES.

The Rasa server refuses any body over its Sanic REQUEST_MAX_SIZE before reading it
(`bot.rasa_server` sets it, 1 MiB by default: the HTTP API takes tracker events); each
participant channel's blueprint refuses more than 64 KB (a real Twilio form or Telegram
update is a few KB), so an oversized update is never stored or given to the NLU. In
production nginx refuses the same bodies before they reach Rasa (deploy/nginx).
"""

from __future__ import annotations

import logging

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 64 * 1024


def limit_body(blueprint: Blueprint, max_bytes: int = MAX_WEBHOOK_BYTES) -> Blueprint:
    """Answer 413 to any request of this blueprint with a body over `max_bytes`."""

    @blueprint.middleware("request")
    async def refuse_large_bodies(request: Request) -> HTTPResponse | None:
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isdigit() else len(request.body or b"")
        if size > max_bytes:
            logger.warning("%s: refused a %d-byte body (limit %d)", blueprint.name, size, max_bytes)
            return response.json(
                {"error": f"the request body is over {max_bytes // 1024} KB"}, status=413
            )
        return None

    return blueprint
