"""A stand-in for the conversation endpoints of Rasa's HTTP API: pause and resume.

    with RasaConversationsStandIn() as rasa:      # accepts TEST_TOKEN
        monkeypatch.setenv("RASA_URL", rasa.base_url)
        ...
        rasa.is_paused("sms-abc"), rasa.events("sms-abc")   # [{"event": "pause"}, ...]

`POST /conversations/<id>/tracker/events?token=...` appends an event (pause and resume
change `paused`), `GET /conversations/<id>/tracker?token=...` answers `{"paused": ...}`,
as Rasa does; a wrong token gets 401. `rasa.fail_next(1)` answers the next call with 500
(`down()` makes every call fail until `up()`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

TEST_TOKEN = "rasa-handoff-test-token"
PREFIX = "/conversations/"


@dataclass
class _State:
    token: str
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    failures: int = 0
    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paused(self, sender_id: str) -> bool:
        paused = False
        for event in self.events.get(sender_id, []):
            if event.get("event") == "pause":
                paused = True
            elif event.get("event") == "resume":
                paused = False
        return paused


class RasaConversationsStandIn:
    """Rasa's tracker endpoints on a free local port; use as a context manager."""

    def __init__(self, token: str = TEST_TOKEN) -> None:
        self._state = _State(token=token)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self._state))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """What RASA_URL should be."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token(self) -> str:
        """The API token it accepts."""
        return self._state.token

    def events(self, sender_id: str) -> list[dict[str, Any]]:
        """The events appended to a conversation, in order."""
        with self._state.lock:
            return list(self._state.events.get(sender_id, []))

    def is_paused(self, sender_id: str) -> bool:
        """Whether the conversation is paused now."""
        with self._state.lock:
            return self._state.paused(sender_id)

    def fail_next(self, count: int = 1) -> None:
        """Answer the next `count` calls with HTTP 500."""
        with self._state.lock:
            self._state.failures += count

    def down(self) -> None:
        """Answer every call with HTTP 500 until `up()`."""
        with self._state.lock:
            self._state.down = True

    def up(self) -> None:
        """Answer normally again."""
        with self._state.lock:
            self._state.down = False

    def __enter__(self) -> RasaConversationsStandIn:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read the state instead."""

        def _answer(self, method: str) -> None:
            parts = urlsplit(self.path)
            token = parse_qs(parts.query).get("token", [""])[-1]
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null") if length else None
            status, reply = self._result(method, unquote(parts.path), token, body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _result(
            self, method: str, path: str, token: str, body: Any
        ) -> tuple[int, dict[str, Any]]:
            if not path.startswith(PREFIX):
                return 404, {"message": "no such route"}
            sender_id, _, rest = path[len(PREFIX) :].partition("/")
            with state.lock:
                if token != state.token:
                    return 401, {"message": "User is not authenticated."}
                if state.down or state.failures:
                    state.failures = max(state.failures - 1, 0)
                    return 500, {"message": "An unexpected error occurred."}
                if method == "POST" and rest == "tracker/events" and isinstance(body, dict):
                    state.events.setdefault(sender_id, []).append(body)
                elif not (method == "GET" and rest == "tracker"):
                    return 404, {"message": "no such route"}
                return 200, {"sender_id": sender_id, "paused": state.paused(sender_id)}

    return Handler
