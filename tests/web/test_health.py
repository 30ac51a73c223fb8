"""The web app's /healthz checks what it needs: its database and the Rasa server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from bot.core.settings import get_settings


class RasaHealth(BaseHTTPRequestHandler):
    """Answers Rasa's health path as a healthy Rasa server does."""

    def do_GET(self) -> None:
        status = 200 if self.path == "/webhooks/health/" else 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def rasa_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RasaHealth)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def health(monkeypatch: pytest.MonkeyPatch, rasa: str) -> tuple[int, dict]:
    monkeypatch.setenv("RASA_URL", rasa)
    get_settings.cache_clear()
    from bot.web.app import app

    with TestClient(app) as client:
        answer = client.get("/healthz")
    return answer.status_code, answer.json()


def test_healthy_when_the_database_and_rasa_answer(
    database_url: str, rasa_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert health(monkeypatch, rasa_url) == (
        200,
        {"status": "ok", "checks": {"database": "ok", "rasa": "ok"}},
    )


def test_503_and_why_when_rasa_does_not_answer(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, body = health(monkeypatch, "http://127.0.0.1:1")
    assert status == 503
    assert body["checks"] == {"database": "ok", "rasa": "ConnectError"}
