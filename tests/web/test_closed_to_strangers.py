"""Closed to strangers: the web app as an attacker found it (production issue, part 5).

The web chat is off with PostgreSQL unless switched on; every address has rate limits on
the chat API, its update polling, the console and its sign-in form; X-Forwarded-For is
believed only from TRUSTED_PROXIES (by the app and by uvicorn as `trialbot run` starts
it); request bodies over MAX_REQUEST_BYTES get 413 before they are read. And the flood of
anonymous "crushing chest pain" messages that became 30 escalations and 90 staff pages.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shlex
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send
from uvicorn.main import main as uvicorn_command_line
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bot.alerts.planning import QUEUE_RECIPIENT
from bot.alerts.worker import AlertWorker
from bot.core.settings import Settings, get_settings
from bot.db.models import (
    AlertChannel,
    AlertDelivery,
    Escalation,
    EscalationLevel,
    EscalationType,
    Participant,
    StaffUser,
)
from bot.db.repository import ensure_web_participant
from bot.db.session import session_scope
from bot.staff.auth import MAX_FAILURES_PER_IP
from bot.supervisor import process_commands
from bot.web.body_limit import BodySizeLimitMiddleware
from bot.web.throttle import wait_words
from tests.alerts.support import (
    FakeClock,
    alert_env,
    enroll_sms,
    raise_for,
    rasa_api,
    staff,
    telegram_api,
    twilio_api,
)
from tests.staff.factories import PASSWORD, add_user
from tests.web.test_console import csrf_of

__all__ = ["alert_env", "rasa_api", "staff", "telegram_api", "twilio_api"]

CHEST = "crushing chest pain"
ATTACKER = "203.0.113.9"
VISITOR = "198.51.100.20"
LIMIT = 65536


def new_sender() -> str:
    return f"web-{secrets.token_hex(8)}"


def chat(client: TestClient, text: str = "hello", sender: str | None = None, **headers: str):
    return client.post(
        "/api/chat", json={"sender": sender or new_sender(), "message": text}, headers=headers
    )


def use(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Set environment variables for this test and read the settings again."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


@pytest.fixture
def web(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., TestClient]]:
    """Test clients of the web app, each at the address asked for; the web chat switched on
    (with PostgreSQL it is off unless it is)."""
    from bot.web.app import app

    use(monkeypatch, WEB_CHAT_ENABLED="true")

    clients: list[TestClient] = []

    def at(host: str = VISITOR) -> TestClient:
        client = TestClient(app, follow_redirects=False, client=(host, 50000))
        clients.append(client)
        return client

    yield at
    for client in clients:
        client.close()


@pytest.fixture
def rasa(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Rasa's web chat channel as the relay reaches it: what it does with a red flag.

    It makes the web participant (`ensure_web_participant`, as the channel does) and, for a
    red flag, logs the message and stores an emergency escalation (as the turn guard does);
    the payloads it received are returned.
    """
    import bot.web.app

    received: list[dict] = []

    def channel(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/webhooks/health/":  # the web app's /healthz asks
            return httpx.Response(200, json={"status": "ok"})
        payload = json.loads(request.content)
        received.append(payload)
        with session_scope() as session:
            participant = ensure_web_participant(session=session, sender_id=payload["sender"])
        if "chest pain" in payload["message"]:
            emergency(participant, payload["message"])
        return httpx.Response(200, json=[{"recipient_id": payload["sender"], "text": "ok"}])

    def client(**options: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(channel))

    fake = SimpleNamespace(AsyncClient=client, HTTPError=httpx.HTTPError)
    monkeypatch.setattr(bot.web.app, "httpx", fake)
    return received


def emergency(participant: Participant, text: str = CHEST) -> None:
    """The participant's message and the emergency escalation the turn guard stores for it."""
    raise_for(
        participant,
        EscalationLevel.EMERGENCY,
        type=EscalationType.EMERGENCY,
        reason="red flag: chest pain",
        words=text,
    )


def escalation_count() -> int:
    with session_scope() as session:
        return int(session.execute(select(func.count(Escalation.id))).scalar_one())


# --- the web chat is off unless switched on ------------------------------------------------


@pytest.mark.parametrize(
    ("database", "setting", "enabled"),
    [
        ("sqlite:///var/trialbot.db", None, True),
        ("postgresql://trialbot@db/trialbot", None, False),
        ("postgresql://trialbot@db/trialbot", "true", True),
        ("sqlite:///var/trialbot.db", "false", False),
        ("postgresql://trialbot@db/trialbot", "", False),
    ],
)
def test_the_web_chat_is_on_only_with_the_embedded_database_unless_set(
    monkeypatch: pytest.MonkeyPatch, database: str, setting: str | None, enabled: bool
) -> None:
    if setting is None:
        monkeypatch.delenv("WEB_CHAT_ENABLED", raising=False)
    else:
        monkeypatch.setenv("WEB_CHAT_ENABLED", setting)

    settings = Settings(database_url=database)

    assert settings.web_chat_enabled is enabled
    assert settings.child_environment()["WEB_CHAT_ENABLED"] == str(enabled).lower()


def test_with_postgresql_the_chat_page_and_its_api_are_closed(
    web: Callable[..., TestClient], rasa: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEB_CHAT_ENABLED", raising=False)
    use(monkeypatch, DATABASE_URL="postgresql://trialbot@127.0.0.1:1/not-used")
    client = web()

    page = client.get("/")
    reply = chat(client, CHEST)
    updates = client.get(f"/api/chat/updates?sender={new_sender()}")

    assert page.status_code == 404 and "web chat is switched off" in page.text
    assert reply.status_code == 404
    assert reply.json() == {"error": "The web chat is switched off on this server."}
    assert updates.status_code == 404
    assert rasa == []  # nothing reached the assistant
    health = client.get("/healthz")  # the app itself still answers, and says what fails
    assert health.status_code == 503 and health.json()["checks"]["rasa"] == "ok"


def test_switched_off_on_sqlite_too(
    web: Callable[..., TestClient], rasa: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, WEB_CHAT_ENABLED="false")

    assert web().get("/").status_code == 404
    assert chat(web()).status_code == 404
    assert rasa == []


def test_switched_on_it_chats(
    web: Callable[..., TestClient], rasa: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, WEB_CHAT_ENABLED="true")

    assert web().get("/").status_code == 200
    assert chat(web(), "hello").json() == {
        "messages": [{"recipient_id": rasa[0]["sender"], "text": "ok"}],
        "language": "en",
    }


# --- rate limits per address -----------------------------------------------------------------


def test_the_chat_api_is_limited_per_address(
    web: Callable[..., TestClient], rasa: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, CHAT_RATE_LIMIT="3/minute", CHAT_NEW_SENDER_LIMIT="")
    attacker, visitor = web(ATTACKER), web(VISITOR)
    sender = new_sender()

    replies = [chat(attacker, "hello", sender) for _ in range(4)]

    assert [reply.status_code for reply in replies] == [200, 200, 200, 429]
    limited = replies[-1]
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["error"].startswith("Too many requests. Please wait")
    assert len(rasa) == 3  # the fourth never reached the assistant
    assert chat(visitor, "hello").status_code == 200  # another address is not affected


def test_waits_are_said_in_seconds_or_minutes() -> None:
    assert [wait_words(seconds) for seconds in (0.2, 30, 89, 90, 3599)] == [
        "1 second",
        "30 seconds",
        "89 seconds",
        "2 minutes",
        "60 minutes",
    ]


def test_each_address_starts_only_a_few_new_conversations(
    web: Callable[..., TestClient], rasa: list[dict]
) -> None:
    client = web(ATTACKER)
    first = new_sender()

    statuses = [
        chat(client, "hi", sender).status_code
        for sender in [first, *(new_sender() for _ in range(3))]
    ]

    assert statuses == [200, 200, 200, 429]  # CHAT_NEW_SENDER_LIMIT: 3 an hour
    assert chat(client, "how are you", first).status_code == 200  # a started chat goes on


def test_update_polling_is_limited_per_address(
    web: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, CHAT_UPDATES_RATE_LIMIT="2/minute")
    client, sender = web(), new_sender()

    statuses = [client.get(f"/api/chat/updates?sender={sender}").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_console_pages_are_limited_per_address(
    web: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, CONSOLE_RATE_LIMIT="5/minute")
    client = web()

    statuses = [client.get("/console/sign-in").status_code for _ in range(6)]

    assert statuses == [200] * 5 + [429]
    limited = client.get("/console/queue")
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert limited.headers["content-type"].startswith("text/plain")
    assert web(ATTACKER).get("/console/sign-in").status_code == 200


def test_sign_in_posts_are_limited_per_address(web: Callable[..., TestClient]) -> None:
    client = web(ATTACKER)
    token = csrf_of(client)

    def attempt(username: str) -> httpx.Response:
        form = {"username": username, "password": "a guess at it", "csrf_token": token}
        return client.post("/console/sign-in", data=form)

    statuses = [attempt(f"user{index}").status_code for index in range(11)]

    assert statuses == [401] * 10 + [429]  # SIGN_IN_RATE_LIMIT: 10 a minute
    assert web(VISITOR).get("/console/sign-in").status_code == 200


def served_as_trialbot_run_serves_it(settings: Settings) -> TestClient:
    """The web app behind uvicorn's proxy-header handling as `trialbot run` configures it,
    for a client at 127.0.0.1 (uvicorn's own default would believe its X-Forwarded-For)."""
    command = shlex.split(process_commands(settings)["web"])
    options = uvicorn_command_line.make_context("uvicorn", command[command.index("uvicorn") + 1 :])
    config = uvicorn.Config(
        "bot.web.app:app",
        ws=options.params["ws"],
        proxy_headers=options.params["proxy_headers"],
        forwarded_allow_ips=options.params["forwarded_allow_ips"],
    )
    config.load()
    return TestClient(config.loaded_app, follow_redirects=False, client=("127.0.0.1", 50000))


def test_a_loopback_client_rotating_x_forwarded_for_stays_limited_in_the_chat(
    database_url: str, rasa: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    use(monkeypatch, WEB_CHAT_ENABLED="true", CHAT_RATE_LIMIT="3/minute", CHAT_NEW_SENDER_LIMIT="")
    loopback = served_as_trialbot_run_serves_it(get_settings())

    statuses = [
        chat(loopback, CHEST, **{"X-Forwarded-For": f"192.0.2.{index}"}).status_code
        for index in range(6)
    ]

    assert statuses == [200, 200, 200, 429, 429, 429]


def test_a_loopback_client_rotating_x_forwarded_for_stays_limited_at_sign_in(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    use(monkeypatch, SIGN_IN_RATE_LIMIT="")  # the database's own per-address limit only
    with session_scope() as session:
        add_user(session, "yara")
    loopback = served_as_trialbot_run_serves_it(get_settings())
    token = csrf_of(loopback)

    def attempt(index: int, username: str, password: str) -> int:
        form = {"username": username, "password": password, "csrf_token": token}
        headers = {"X-Forwarded-For": f"192.0.2.{index}"}
        return loopback.post("/console/sign-in", data=form, headers=headers).status_code

    guesses = [
        attempt(index, f"user{index}", "a guess at it") for index in range(MAX_FAILURES_PER_IP)
    ]

    assert guesses == [401] * MAX_FAILURES_PER_IP
    assert attempt(99, "yara", PASSWORD) == 429  # still counted as 127.0.0.1


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(
    web: Callable[..., TestClient], rasa: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    use(
        monkeypatch,
        TRUSTED_PROXIES="127.0.0.1",
        CHAT_RATE_LIMIT="2/minute",
        CHAT_NEW_SENDER_LIMIT="",
    )
    proxy = web("127.0.0.1")

    # The proxy appends the address it saw; what the client wrote before it is not believed.
    def through_proxy(forged: str) -> int:
        return chat(proxy, "hi", **{"X-Forwarded-For": f"{forged}, {ATTACKER}"}).status_code

    assert [through_proxy(f"192.0.2.{index}") for index in range(3)] == [200, 200, 429]
    assert chat(proxy, "hi", **{"X-Forwarded-For": VISITOR}).status_code == 200


@pytest.mark.parametrize("trusted", ["", "10.0.0.0/8,192.168.1.2"])
def test_trialbot_run_starts_uvicorn_trusting_only_the_configured_proxies(trusted: str) -> None:
    command = shlex.split(process_commands(Settings(trusted_proxies=trusted))["web"])
    arguments = command[command.index("uvicorn") + 1 :]

    options = uvicorn_command_line.make_context("uvicorn", arguments).params
    resolver = ProxyHeadersMiddleware(lambda *_: None, options["forwarded_allow_ips"])

    assert options["forwarded_allow_ips"] == trusted
    assert "127.0.0.1" not in resolver.trusted_hosts  # uvicorn's own default trusts it
    assert ("10.1.2.3" in resolver.trusted_hosts) is bool(trusted)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        Settings(trusted_proxies="proxy.example.org")
    with pytest.raises(ValueError, match="not a rate limit"):
        Settings(chat_rate_limit="lots")
    assert Settings(chat_rate_limit="").chat_rate_limit == ""  # empty: no limit


# --- request bodies ----------------------------------------------------------------------------


def test_a_body_declared_larger_than_the_limit_gets_413(
    web: Callable[..., TestClient], rasa: list[dict]
) -> None:
    body = b"x" * (20 * 1024 * 1024)

    for path in ("/api/chat", "/console/sign-in", "/console/research/export"):
        reply = web().post(path, content=body, headers={"Content-Type": "application/json"})
        assert reply.status_code == 413, path
        assert reply.text == f"Request too large: at most {LIMIT} bytes."
    assert rasa == []


def test_a_chunked_body_over_the_limit_gets_413(
    web: Callable[..., TestClient], rasa: list[dict]
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(320):
            yield b"x" * LIMIT

    reply = web().post("/api/chat", content=chunks(), headers={"Content-Type": "application/json"})

    assert reply.status_code == 413
    assert rasa == []


def test_a_body_at_the_limit_is_read() -> None:
    assert _serve(BodySizeLimitMiddleware(_echo_length), [b"x" * LIMIT], declared=LIMIT) == (
        200,
        str(LIMIT),
        1,
    )


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    status, _, reads = _serve(
        BodySizeLimitMiddleware(_echo_length), [b"x" * LIMIT] * 320, declared=320 * LIMIT
    )

    assert (status, reads) == (413, 0)


def test_a_streamed_body_is_counted_and_reading_stops_at_the_limit() -> None:
    status, _, reads = _serve(BodySizeLimitMiddleware(_echo_length), [b"x" * 1000] * 20_000)

    assert status == 413
    assert reads == 66  # 66 * 1000 bytes passed 65536: nothing more was read


async def _echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that reads the whole body and answers its length."""
    body = await Request(scope, receive).body()
    await PlainTextResponse(str(len(body)))(scope, receive, send)


def _serve(app, chunks: list[bytes], declared: int | None = None) -> tuple[int, str, int]:
    """Run one POST through an ASGI app; (status, body, how many chunks the app read)."""
    get_settings.cache_clear()
    headers = [(b"content-length", str(declared).encode())] if declared is not None else []
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    reads = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal reads
        if reads < len(chunks):
            reads += 1
            return {
                "type": "http.request",
                "body": chunks[reads - 1],
                "more_body": reads < len(chunks),
            }
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    body = b"".join(message.get("body", b"") for message in sent[1:]).decode()
    return sent[0]["status"], body, reads


# --- the flood from the production issue -------------------------------------------------------


async def test_a_flood_of_anonymous_emergencies_pages_nobody(
    alert_env: str,
    staff: dict[str, StaffUser],
    web: Callable[..., TestClient],
    rasa: list[dict],
) -> None:
    attacker = web(ATTACKER)

    statuses = [chat(attacker, CHEST).status_code for _ in range(30)]
    flood = escalation_count()
    report = await AlertWorker.from_settings(get_settings(), clock=FakeClock()).run_once()

    assert statuses.count(429) >= 25
    assert set(statuses) <= {200, 429}
    assert 1 <= flood <= 5
    with session_scope() as session:
        rows = list(session.execute(select(AlertDelivery)).scalars())
    assert {row.channel for row in rows} == {AlertChannel.CONSOLE}  # no SMS, no Telegram
    assert report.planned == flood
    # Every escalation is in the console queue (and shows the on-call staff on the console).
    assert len({row.escalation_id for row in rows if row.recipient == QUEUE_RECIPIENT}) == flood

    # The same worker still pages staff for a real participant's emergency.
    emergency(enroll_sms())
    await AlertWorker.from_settings(get_settings(), clock=FakeClock()).run_once()
    with session_scope() as session:
        channels = set(session.execute(select(AlertDelivery.channel)).scalars())
    assert {AlertChannel.SMS, AlertChannel.TELEGRAM} <= channels
