"""A stand-in for the Rasa server's HTTP API: a real local HTTP server that records triggers.

Point `bot.outreach.rasa_api.RasaHttpApi` at it (`RasaHttpApi(rasa.base_url, rasa.token)`):

    with RasaApiStandIn(token="test-token") as rasa:
        ...                                      # code under test triggers intents
        [call] = rasa.triggers()                 # what Rasa was asked to do
        call.conversation_id, call.intent, call.entities, call.output_channel

It also answers `GET /conversations/<id>/tracker?token=<t>` with a user event for each
trigger it took in that conversation (intent and entities), as Rasa's tracker has them.

What it implements: `POST /conversations/<id>/trigger_intent?output_channel=<name>&token=<t>`
with a JSON body `{"name": ..., "entities": ...}`, answered as Rasa does: 401 for a
missing or wrong token, 400 without a name, 404 for an intent not in `intents`, else 200
with `{"tracker": {...}}`. Output channels not in `channels` are answered the way Rasa
does when no input channel has that name: the replies come back in the body
(`"messages"`) instead of being sent.

Failures on demand: `rasa.fail_next(1, status=500)`. Every request is recorded
(`rasa.requests`), refused ones too, with the status it got.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

TEST_TOKEN = "rasa-test-token"
TRIGGER_PATH_PREFIX = "/conversations/"
TRIGGER_PATH_SUFFIX = "/trigger_intent"


@dataclass(frozen=True)
class TriggerCall:
    """One trigger_intent request the stand-in received, and the status it answered."""

    conversation_id: str
    intent: str | None
    entities: Any
    output_channel: str | None
    token: str | None
    status: int


@dataclass
class _State:
    token: str
    intents: frozenset[str]
    channels: frozenset[str]
    requests: list[TriggerCall] = field(default_factory=list)
    failures: deque[int] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # What a turn with no output channel says (its replies are returned, not sent).
    collected: Callable[[str, dict[str, Any]], list[dict[str, Any]]] = lambda _sender, _e: [
        {"text": "(collected)"}
    ]


class RasaApiStandIn:
    """A local Rasa HTTP API on a free port; use as a context manager (or start()/stop())."""

    def __init__(
        self,
        token: str = TEST_TOKEN,
        *,
        intents: Collection[str] = ("start_checkin",),
        channels: Collection[str] = ("twilio", "telegram"),
    ) -> None:
        self._state = _State(token=token, intents=frozenset(intents), channels=frozenset(channels))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self._state))
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

    @property
    def requests(self) -> list[TriggerCall]:
        """Every trigger_intent request so far, oldest first."""
        with self._state.lock:
            return list(self._state.requests)

    def triggers(self, *, succeeded_only: bool = True) -> list[TriggerCall]:
        """The trigger_intent requests (only those answered 200, unless told otherwise)."""
        return [call for call in self.requests if call.status == 200 or not succeeded_only]

    def fail_next(self, count: int = 1, *, status: int = 500) -> None:
        """Answer the next `count` requests with an HTTP error."""
        with self._state.lock:
            self._state.failures.extend([status] * count)

    def says(self, replies: Callable[[str, dict[str, Any]], list[dict[str, Any]]]) -> None:
        """What a turn with no output channel says, from the conversation and the entities
        (like Rasa, it returns those replies instead of sending them)."""
        with self._state.lock:
            self._state.collected = replies

    def start(self) -> RasaApiStandIn:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RasaApiStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _error(status: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    """Rasa's error body."""
    return status, {"version": "3.6.21", "status": "failure", "reason": reason, "message": message}


def _answer(
    state: _State, conversation_id: str, query: dict[str, str], body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """The status and body for one trigger_intent call (the caller holds the lock)."""
    token, intent = query.get("token"), body.get("name")
    if token != state.token:
        return _error(401, "NotAuthenticated", "User is not authenticated.")
    if state.failures:
        return _error(state.failures.popleft(), "ConversationError", "An unexpected error.")
    if not intent:
        return _error(400, "BadRequest", "Name of the intent not provided in request body.")
    if intent not in state.intents:
        return _error(404, "NotFound", f"The intent {intent} does not exist in the domain.")
    reply: dict[str, Any] = {"tracker": {"sender_id": conversation_id}}
    if query.get("output_channel") not in state.channels:
        said = state.collected(conversation_id, dict(body.get("entities") or {}))
        reply["messages"] = [{"recipient_id": conversation_id, **message} for message in said]
    return 200, reply


def _handler_for(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """Answers POST /conversations/<id>/trigger_intent."""

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            if not (
                parts.path.startswith(TRIGGER_PATH_PREFIX)
                and parts.path.endswith(TRIGGER_PATH_SUFFIX)
            ):
                self._send(*_error(404, "NotFound", "no such route"))
                return
            conversation_id = unquote(
                parts.path[len(TRIGGER_PATH_PREFIX) : -len(TRIGGER_PATH_SUFFIX)]
            )
            query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            with state.lock:
                status, reply = _answer(state, conversation_id, query, body)
                state.requests.append(
                    TriggerCall(
                        conversation_id=conversation_id,
                        intent=body.get("name"),
                        entities=body.get("entities"),
                        output_channel=query.get("output_channel"),
                        token=query.get("token"),
                        status=status,
                    )
                )
            self._send(status, reply)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            suffix = "/tracker"
            query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
            if not (parts.path.startswith(TRIGGER_PATH_PREFIX) and parts.path.endswith(suffix)):
                self._send(*_error(404, "NotFound", "no such route"))
                return
            if query.get("token") != state.token:
                self._send(*_error(401, "NotAuthenticated", "User is not authenticated."))
                return
            conversation_id = unquote(parts.path[len(TRIGGER_PATH_PREFIX) : -len(suffix)])
            with state.lock:
                events = [
                    {
                        "event": "user",
                        "text": f"EXTERNAL: {call.intent}",
                        "parse_data": {
                            "intent": {"name": call.intent},
                            "entities": [
                                {"entity": name, "value": value}
                                for name, value in (call.entities or {}).items()
                            ],
                        },
                    }
                    for call in state.requests
                    if call.conversation_id == conversation_id and call.status == 200
                ]
            self._send(200, {"sender_id": conversation_id, "events": events})

        def _send(self, status: int, reply: dict[str, Any]) -> None:
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler
