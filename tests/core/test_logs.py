"""Secrets in request URLs (Rasa's ?token=, Telegram's bot token) never reach the logs."""

from __future__ import annotations

import logging

import httpx
import pytest

from bot.core.logs import configure_logging


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_request_urls_are_not_logged_at_any_level(
    level: str, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging(level)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with caplog.at_level(logging.DEBUG), httpx.Client(transport=transport) as client:
        client.get("http://127.0.0.1:5005/model/parse", params={"token": "s3cret-token"})
        client.get("http://127.0.0.1:9/bot123456:ABC-secret/getMe")
    assert "s3cret-token" not in caplog.text
    assert "ABC-secret" not in caplog.text
