"""A stand-in for Twilio's REST API (Messages): a real local HTTP server that records requests.

Point the twilio library (or `bot.clients.twilio_sms.TwilioSmsClient`) at it with
`TWILIO_API_BASE_URL=api.base_url`; nothing ever reaches api.twilio.com.

    with TwilioApiStandIn() as api:           # account TEST_ACCOUNT_SID, token TEST_AUTH_TOKEN
        monkeypatch.setenv("TWILIO_API_BASE_URL", api.base_url)
        ...                                    # code under test sends SMS
        [sms] = api.messages                   # what would have been sent
        sms["To"], sms["From"], sms["Body"], sms.get("StatusCallback")

What it implements: `POST /2010-04-01/Accounts/<AccountSid>/Messages.json`, form-encoded
as Twilio takes it (To, From or MessagingServiceSid, Body or MediaUrl, StatusCallback,
...), with HTTP Basic auth (the account SID and auth token it was made with). A message
it accepts gets 201 and a Twilio-shaped message resource: `sid` ("SM" + 32 hex digits),
`status` "queued" ("accepted" when sent through a messaging service), `to`, `from`,
`body`, `num_segments`, `date_created`, `uri`, ... Errors are Twilio-shaped JSON
(`code`, `message`, `more_info`, `status`): 401 / 20003 for wrong credentials, 400 /
21604, 21603 or 21602 for a missing To, From or Body, 404 / 20404 for any other path.
`GET .../Messages.json` lists the accepted messages newest first, filtered by `To` and
`From` as Twilio's list is, `PageSize` at a time (one page: `next_page_uri` is null).

Failures on demand: `api.fail_next(2)` answers the next two message requests with 500;
`api.fail_next(1, status=400, code=INVALID_NUMBER)` answers the next one as Twilio does
for an invalid 'To' number. Every request is recorded (`api.requests`), failed ones too,
with the status it got; `api.messages` holds the forms of the accepted messages only.
`api.drop_next()` takes the next message (it is accepted and listed) but closes the
connection without answering, as a response lost on the way back does: the sender cannot
know it went out. `api.reset()` forgets everything and any pending failures.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

TEST_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TEST_AUTH_TOKEN = "stand-in-auth-token-0123456789ab"
INVALID_NUMBER = 21211
UNSUBSCRIBED = 21610
MESSAGES_PATH = re.compile(r"/2010-04-01/Accounts/(?P<account>[A-Za-z0-9]+)/Messages\.json")
SEGMENT_CHARACTERS = 153


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stand-in received, and the HTTP status it answered."""

    method: str
    path: str
    form: dict[str, str]
    username: str
    status: int


@dataclass(frozen=True)
class _Failure:
    status: int
    code: int
    message: str


@dataclass
class _State:
    account_sid: str
    auth_token: str
    requests: list[RecordedRequest] = field(default_factory=list)
    failures: deque[_Failure] = field(default_factory=deque)
    created: list[dict[str, Any]] = field(default_factory=list)
    drops: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _message_resource(account_sid: str, form: dict[str, str]) -> dict[str, Any]:
    """The JSON Twilio answers a created message with (the fields clients read)."""
    sid = "SM" + secrets.token_hex(16)
    now = format_datetime(datetime.now(timezone.utc))
    body = form.get("Body", "")
    return {
        "sid": sid,
        "account_sid": account_sid,
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "to": form.get("To"),
        "from": form.get("From"),
        "body": body,
        "status": "accepted" if form.get("MessagingServiceSid") else "queued",
        "num_segments": str(max(1, -(-len(body) // SEGMENT_CHARACTERS))),
        "num_media": "1" if form.get("MediaUrl") else "0",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "price": None,
        "price_unit": "USD",
        "error_code": None,
        "error_message": None,
        "date_created": now,
        "date_updated": now,
        "date_sent": None,
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"
        },
    }


def _missing_field(form: dict[str, str]) -> tuple[int, str] | None:
    if not form.get("To"):
        return 21604, "A 'To' phone number is required."
    if not form.get("From") and not form.get("MessagingServiceSid"):
        return 21603, "A 'From' phone number is required."
    if not form.get("Body") and not form.get("MediaUrl"):
        return 21602, "Message body is required."
    return None


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as Twilio's API does: a client reuses its connections.
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: without this, Nagle's algorithm holds the body
        # until the client's delayed ACK (40 ms) on a kept-alive connection.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self._answer("POST")

        def do_GET(self) -> None:
            self._answer("GET")

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read `requests` instead."""

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            url = urlsplit(self.path)
            fields = parse_qs(raw if method == "POST" else url.query, keep_blank_values=True)
            form = {name: values[-1] for name, values in fields.items()}
            username, password = _basic_auth(self.headers.get("Authorization", ""))
            path = url.path
            status, payload = self._result(method, path, form, username, password)
            with state.lock:
                state.requests.append(RecordedRequest(method, path, form, username, status))
                dropped = status == 201 and state.drops > 0
                if dropped:
                    state.drops -= 1
            if dropped:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _result(
            self, method: str, path: str, form: dict[str, str], username: str, password: str
        ) -> tuple[int, dict[str, Any]]:
            match = MESSAGES_PATH.fullmatch(path)
            if match is None or method not in ("GET", "POST"):
                return 404, _error(404, 20404, f"The requested resource {path} was not found")
            if (username, password) != (state.account_sid, state.auth_token) or (
                match.group("account") != state.account_sid
            ):
                return 401, _error(401, 20003, "Authenticate")
            if method == "GET":
                return 200, _message_list(state, path, form)
            with state.lock:
                failure = state.failures.popleft() if state.failures else None
            if failure is not None:
                return failure.status, _error(failure.status, failure.code, failure.message)
            missing = _missing_field(form)
            if missing is not None:
                return 400, _error(400, *missing)
            resource = _message_resource(state.account_sid, form)
            with state.lock:
                state.created.append(resource)
            return 201, resource

    return Handler


def _message_list(state: _State, path: str, query: dict[str, str]) -> dict[str, Any]:
    """One page of the accepted messages, newest first, as Twilio lists them."""
    size = int(query.get("PageSize") or 50)
    with state.lock:
        chosen = [
            resource
            for resource in reversed(state.created)
            if query.get("To") in (None, resource["to"])
            and query.get("From") in (None, resource["from"])
        ][:size]
    return {
        "messages": chosen,
        "first_page_uri": f"{path}?PageSize={size}&Page=0",
        "next_page_uri": None,
        "previous_page_uri": None,
        "page": 0,
        "page_size": size,
        "start": 0,
        "end": max(0, len(chosen) - 1),
        "uri": f"{path}?PageSize={size}&Page=0",
    }


def _basic_auth(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        username, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return "", ""
    return username, password


class TwilioApiStandIn:
    """Twilio's Messages API on 127.0.0.1 and a free port, in a background thread."""

    def __init__(
        self, account_sid: str = TEST_ACCOUNT_SID, auth_token: str = TEST_AUTH_TOKEN
    ) -> None:
        self._state = _State(account_sid, auth_token)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self._state))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def account_sid(self) -> str:
        """The account SID it accepts (Basic-auth user and the path's account)."""
        return self._state.account_sid

    @property
    def auth_token(self) -> str:
        """The auth token it accepts (Basic-auth password)."""
        return self._state.auth_token

    @property
    def base_url(self) -> str:
        """Its address: give it as TWILIO_API_BASE_URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in order, with the status each got."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def messages(self) -> list[dict[str, str]]:
        """The form of every message it accepted (201), in order."""
        return [request.form for request in self.requests if request.status == 201]

    def messages_after(self, seen: int) -> tuple[list[dict[str, str]], int]:
        """The messages accepted among the requests after the first `seen`, and how many
        requests there are now (to pass next time): what `messages` adds, without copying
        every request each time (a benchmark asks often)."""
        with self._state.lock:
            fresh = self._state.requests[seen:]
            count = len(self._state.requests)
        return [request.form for request in fresh if request.status == 201], count

    @property
    def created(self) -> list[dict[str, Any]]:
        """The message resources it made (sid, to, body, ...), oldest first."""
        with self._state.lock:
            return [dict(resource) for resource in self._state.created]

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        code: int | None = None,
        message: str = "Service unavailable",
    ) -> None:
        """Answer the next `count` message requests with this error (code defaults to status)."""
        failure = _Failure(status, code or status, message)
        with self._state.lock:
            self._state.failures.extend([failure] * count)

    def drop_next(self, count: int = 1) -> None:
        """Take the next `count` messages but answer none of them (the connection closes)."""
        with self._state.lock:
            self._state.drops += count

    def reset(self) -> None:
        """Forget the requests and messages so far and any failures still pending."""
        with self._state.lock:
            self._state.requests.clear()
            self._state.failures.clear()
            self._state.created.clear()
            self._state.drops = 0

    def start(self) -> TwilioApiStandIn:
        """Start serving (in a daemon thread)."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="twilio-api-stand-in",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TwilioApiStandIn:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
