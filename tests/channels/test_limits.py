"""A public webhook refuses a body over 64 KB with 413, and Rasa's server refuses one over
its Sanic REQUEST_MAX_SIZE before reading it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.limits import MAX_WEBHOOK_BYTES, limit_body
from tests.stand_ins.sanic_app import serving


@pytest.fixture
async def webhook(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[str, list[int]]]:
    monkeypatch.setenv("SANIC_REQUEST_MAX_SIZE", str(1024 * 1024))
    app = Sanic(f"limits_test_{secrets.token_hex(6)}", configure_logging=False)
    stored: list[int] = []
    hook = limit_body(Blueprint("hook", url_prefix="/webhooks/test"))

    @hook.route("/webhook", methods=["POST"])
    async def receive(request: Request) -> HTTPResponse:
        stored.append(len(request.body))
        return response.json({"ok": True})

    app.blueprint(hook)
    async with serving(app, monkeypatch) as base_url:
        yield f"{base_url}/webhooks/test/webhook", stored


async def test_a_webhook_body_over_64_kb_is_refused_and_not_stored(
    webhook: tuple[str, list[int]],
) -> None:
    url, stored = webhook
    async with httpx.AsyncClient(timeout=30) as client:
        small = await client.post(url, content=b"x" * 2000)
        large = await client.post(url, content=b"x" * (MAX_WEBHOOK_BYTES + 1))
    huge = await status_of_headers_only(url, content_length=20 * 1024 * 1024)

    assert small.status_code == 200
    assert large.status_code == 413 and "64 KB" in large.json()["error"]
    assert huge == 413  # Sanic's own limit: answered from the headers, no body sent at all
    assert stored == [2000]


async def status_of_headers_only(url: str, *, content_length: int) -> int:
    """Send only the request line and headers of a POST; the status the server answers."""
    parsed = httpx.URL(url)
    reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
    writer.write(
        f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {parsed.host}\r\n"
        f"Content-Length: {content_length}\r\n\r\n".encode()
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    writer.close()
    return int(status_line.split()[1])
