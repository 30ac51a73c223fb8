"""A stand-in for Telegram's Bot API: a real local HTTP server that records what it is sent.

Point python-telegram-bot (or `bot.clients.telegram_bot.TelegramClient`) at it with
`TELEGRAM_API_BASE_URL=api.base_url`; nothing ever reaches api.telegram.org.

    with TelegramApiStandIn() as api:         # accepts the token TEST_TOKEN
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", api.base_url)
        ...                                    # code under test sends messages
        [call] = api.calls("sendMessage")      # what would have been sent
        call.params["chat_id"], call.params["text"], call.params.get("reply_markup")

What it implements, at `/bot<token>/<method>` (GET or POST; JSON, form or query
parameters, as PTB sends them; `reply_markup`, `allowed_updates` and other JSON-valued
form fields are decoded): getMe, sendMessage (per-chat message IDs from 1, like
Telegram), answerCallbackQuery, setWebhook, deleteWebhook, getWebhookInfo. Answers are
Telegram-shaped: `{"ok": true, "result": ...}`, or `{"ok": false, "error_code": ...,
"description": ...}` for a wrong token (401) or an unknown method (404).

Failures on demand: `api.fail_next(2)` makes the next two calls answer 500;
`api.fail_next(1, status=403, description=BLOCKED)` makes the next one answer as if the
participant blocked the bot; `method=` limits a failure to one API method. Every request
is recorded (`api.requests`), failed ones too, with the status it got.

`message_update` and `callback_update` build Telegram-shaped webhook updates to post to
the project's channel.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

BLOCKED = "Forbidden: bot was blocked by the user"
TEST_TOKEN = "123456:TEST-TOKEN"
BOT_USER = {
    "id": 7000001,
    "is_bot": True,
    "first_name": "Trial Companion",
    "username": "trial_companion_test_bot",
}
# Form fields whose values PTB sends as JSON text.
JSON_FIELDS = frozenset(
    {"reply_markup", "allowed_updates", "entities", "link_preview_options", "reply_parameters"}
)


@dataclass(frozen=True)
class ApiRequest:
    """One request the stand-in received, and the HTTP status it answered."""

    method: str
    params: dict[str, Any]
    status: int
    token: str


@dataclass(frozen=True)
class _Failure:
    status: int
    description: str
    method: str | None
    retry_after: int | None


@dataclass
class _State:
    token: str
    requests: list[ApiRequest] = field(default_factory=list)
    failures: deque[_Failure] = field(default_factory=deque)
    message_ids: dict[str, int] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class TelegramApiStandIn:
    """A local Bot API on a free port; use as a context manager (or start()/stop())."""

    def __init__(self, token: str = TEST_TOKEN) -> None:
        self._state = _State(token=token)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self._state))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL should be (PTB adds `/bot<token>`)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token(self) -> str:
        """The bot token it accepts."""
        return self._state.token

    @property
    def requests(self) -> list[ApiRequest]:
        """Every request so far, oldest first."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def webhook(self) -> dict[str, Any]:
        """The webhook as last set (empty when none or deleted)."""
        with self._state.lock:
            return dict(self._state.webhook)

    def calls(self, method: str, *, succeeded_only: bool = True) -> list[ApiRequest]:
        """The requests to one API method (only those answered 200, unless told otherwise)."""
        return [
            request
            for request in self.requests
            if request.method == method and (request.status == 200 or not succeeded_only)
        ]

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        description: str = "Internal Server Error",
        method: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `count` calls (of `method`, if given) with an error."""
        with self._state.lock:
            for _ in range(count):
                self._state.failures.append(_Failure(status, description, method, retry_after))

    def start(self) -> TelegramApiStandIn:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TelegramApiStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def message_update(
    update_id: int,
    chat_id: int,
    text: str | None = None,
    *,
    message_id: int = 1,
    edited: bool = False,
    sticker: bool = False,
    chat_type: str = "private",
) -> dict[str, Any]:
    """A webhook update with a message (or an edited one) from a user in their own chat."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": chat_type, "first_name": "Pat"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Pat"},
    }
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    if sticker:
        message["sticker"] = {
            "file_id": "CAACAgIAAxkBAAE",
            "file_unique_id": "AgADBAAD",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
    if edited:
        message["edit_date"] = int(time.time())
    return {"update_id": update_id, "edited_message" if edited else "message": message}


def callback_update(
    update_id: int,
    chat_id: int,
    data: str,
    *,
    message_id: int,
    callback_query_id: str = "4382bfdwdsb323b2d9",
) -> dict[str, Any]:
    """A webhook update for a press of an inline button under one of the bot's messages."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": callback_query_id,
            "from": {"id": chat_id, "is_bot": False, "first_name": "Pat"},
            "chat_instance": "-3884756214",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "Pat"},
                "from": BOT_USER,
                "text": "(the bot's message)",
            },
        },
    }


def _decode_form(fields: dict[str, list[str]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, values in fields.items():
        value = values[-1]
        params[name] = json.loads(value) if name in JSON_FIELDS else value
    return params


def _read_params(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    """Parameters from the query string and a JSON or form body."""
    params = _decode_form(parse_qs(urlsplit(handler.path).query))
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else b""
    content_type = (handler.headers.get("Content-Type") or "").split(";")[0].strip()
    if not body:
        return params
    if content_type == "application/json":
        params.update(json.loads(body))
    elif content_type == "application/x-www-form-urlencoded":
        params.update(_decode_form(parse_qs(body.decode(), keep_blank_values=True)))
    else:
        raise ValueError(f"the stand-in does not read {content_type or 'this body'}")
    return params


def _sent_message(state: _State, params: dict[str, Any]) -> dict[str, Any]:
    chat = str(params["chat_id"])
    state.message_ids[chat] = state.message_ids.get(chat, 0) + 1
    message: dict[str, Any] = {
        "message_id": state.message_ids[chat],
        "date": int(time.time()),
        "chat": {"id": int(chat), "type": "private", "first_name": "Pat"},
        "from": BOT_USER,
        "text": params["text"],
    }
    if "reply_markup" in params:
        message["reply_markup"] = params["reply_markup"]
    return message


def _result(state: _State, method: str, params: dict[str, Any]) -> Any:
    """The `result` of a successful call (None: no such method)."""
    if method == "getMe":
        return BOT_USER
    if method == "sendMessage":
        return _sent_message(state, params)
    if method == "answerCallbackQuery":
        return True
    if method == "setWebhook":
        state.webhook = dict(params)
        return True
    if method == "deleteWebhook":
        state.webhook = {}
        return True
    if method == "getWebhookInfo":
        return {
            "url": state.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }
    return None


def _next_failure(state: _State, method: str) -> _Failure | None:
    for failure in state.failures:
        if failure.method in (None, method):
            state.failures.remove(failure)
            return failure
    return None


def _answer(state: _State, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict]:
    """The status and body for one call; records it."""
    with state.lock:
        failure = _next_failure(state, method) if token == state.token else None
        if token != state.token:
            status, body = 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        elif failure is not None:
            status = failure.status
            body = {"ok": False, "error_code": status, "description": failure.description}
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
        else:
            try:
                result = _result(state, method, params)
            except KeyError as missing:
                result = {"_error": f"Bad Request: {missing.args[0]} is empty"}
            if isinstance(result, dict) and "_error" in result:
                status = 400
                body = {"ok": False, "error_code": 400, "description": result["_error"]}
            elif result is None:
                status, body = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
            else:
                status, body = 200, {"ok": True, "result": result}
        state.requests.append(ApiRequest(method, params, status, token))
    return status, body


def _handler_for(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """Answers Bot API calls at /bot<token>/<method>."""

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read `requests` instead."""

        def _handle(self) -> None:
            path = urlsplit(self.path).path
            prefix, _, method = path.rpartition("/")
            if not prefix.startswith("/bot"):
                self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                return
            try:
                params = _read_params(self)
            except ValueError as error:
                self._reply(400, {"ok": False, "error_code": 400, "description": str(error)})
                return
            self._reply(*_answer(state, prefix.removeprefix("/bot"), method, params))

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
