"""The live queue: server-sent events when the queue changes, one poller per web process,
the queue page's list and script, and one audit event per visit (bot.web.console.live_queue).

The stream tests serve the web app with uvicorn (in a thread, as `trialbot run` configures
it) and read the stream with an async HTTP client, while the test changes the database
the way another process would.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from uvicorn.main import main as uvicorn_command_line

from bot.core.settings import get_settings
from bot.db.models import EscalationLevel, EscalationType, StaffRole, StaffUser
from bot.escalation.queue import acknowledge
from bot.escalation.records import raise_escalation
from bot.staff.permissions import Permission
from bot.supervisor import process_commands
from bot.web.console import live_queue
from bot.web.console.live_queue import QueueWatch
from tests.staff.factories import PASSWORD, add_escalation, add_participant, add_user
from tests.web.test_console import audit_events, signed_in

EVENTS = "/console/api/queue/events"
WAIT_SECONDS = 10.0  # generous: a behaviour test, not a timing benchmark
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def people(session: Session) -> dict[str, StaffUser]:
    """A nurse (in Chicago's time zone) and a researcher."""
    joy = add_user(session, "joy", StaffRole.STAFF, display_name="Nurse Joy")
    joy.timezone = "America/Chicago"
    session.commit()
    return {"staff": joy, "researcher": add_user(session, "rita", StaffRole.RESEARCHER)}


@dataclass
class Served:
    """The web app under uvicorn in a thread: its address, and the server to stop."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def served(database_url: str) -> Iterator[Served]:
    """uvicorn serving the web app with the options `trialbot run` gives it."""
    command = shlex.split(process_commands(get_settings())["web"])
    options = uvicorn_command_line.make_context("uvicorn", command[command.index("uvicorn") + 1 :])
    config = uvicorn.Config(
        "bot.web.app:app",
        ws=options.params["ws"],
        timeout_graceful_shutdown=options.params["timeout_graceful_shutdown"],
        log_level="warning",
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    running = Served(f"http://127.0.0.1:{listener.getsockname()[1]}", server, thread)
    yield running
    running.stop()
    listener.close()


@asynccontextmanager
async def console(served: Served, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """An async HTTP client signed in to the served console."""
    async with httpx.AsyncClient(base_url=served.url, timeout=WAIT_SECONDS) as http:
        form = await http.get("/console/sign-in")
        match = CSRF.search(form.text)
        assert match
        data = {"username": username, "password": PASSWORD, "csrf_token": match.group(1)}
        signed = await http.post("/console/sign-in", data=data)
        assert signed.status_code == 303, signed.text
        yield http


async def next_event(lines: AsyncIterator[str]) -> str:
    """The name of the next event on the stream (comments and other fields skipped)."""

    async def read() -> str:
        async for line in lines:
            if line.startswith("event: "):
                return line.removeprefix("event: ")
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(read(), timeout=WAIT_SECONDS)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (without blocking the loop) until condition() is true."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def polled_once() -> bool:
    """True once the process's poller has read the queue (its baseline is set)."""
    return live_queue.watch.polls > 0


@pytest.fixture(autouse=True)
def _fresh_watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test counts its own polls and listeners; none is left listening after it."""
    watch = QueueWatch(live_queue.current_queue_version)
    monkeypatch.setattr(live_queue, "watch", watch)
    yield
    deadline = time.monotonic() + WAIT_SECONDS
    while watch.listeners or watch.running:
        assert time.monotonic() < deadline, "a stream was left listening"
        time.sleep(0.05)


# --- who may listen ----------------------------------------------------------------------


def test_the_stream_needs_a_sign_in(client: TestClient) -> None:
    reply = client.get(EVENTS)

    assert reply.status_code == 401
    assert reply.json() == {"error": "sign in first"}
    assert live_queue.watch.listeners == 0


def test_the_stream_needs_the_queue_permission(
    client: TestClient,
    session: Session,
    people: dict[str, StaffUser],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bot.web.console.access as access

    signed_in(client, "joy")
    allows = access.allows

    def no_queue(role: StaffRole, permission: Permission) -> bool:
        return permission is not Permission.VIEW_QUEUE and allows(role, permission)

    monkeypatch.setattr(access, "allows", no_queue)

    reply = client.get(EVENTS)

    assert reply.status_code == 403
    assert [event.detail for event in audit_events(session, "auth.access_denied")] == [
        f"GET {EVENTS} needs view_queue"
    ]


# --- the stream --------------------------------------------------------------------------


async def test_an_escalation_raised_elsewhere_is_an_event_within_seconds(
    served: Served, session: Session, people: dict[str, StaffUser]
) -> None:
    participant = add_participant(session, "P-700")
    async with console(served, "joy") as http, http.stream("GET", EVENTS) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["x-accel-buffering"] == "no"
        lines = stream.aiter_lines()
        await until(polled_once, "the first poll")

        raise_escalation(
            session=session,
            participant_id=participant.id,
            level=EscalationLevel.EMERGENCY,
            type=EscalationType.EMERGENCY,
            reason="Red flag: chest pain",
        )
        session.commit()
        raised_at = time.monotonic()

        assert await next_event(lines) == "queue"
        assert time.monotonic() - raised_at < WAIT_SECONDS

    assert audit_events(session, "queue.view") == []  # listening is not a view


async def test_acknowledging_and_a_repeat_are_events_too(
    served: Served, session: Session, people: dict[str, StaffUser]
) -> None:
    participant = add_participant(session, "P-701")
    first = add_escalation(session, participant)
    async with console(served, "joy") as http, http.stream("GET", EVENTS) as stream:
        lines = stream.aiter_lines()
        await until(polled_once, "the first poll")

        acknowledge(session=session, escalation_id=first.id, actor="joy", via="sms")
        session.commit()
        assert await next_event(lines) == "queue"

        add_escalation(session, participant)  # the same symptom again: merged into it
        assert await next_event(lines) == "queue"


async def test_one_poller_serves_every_stream_and_stops_with_the_last(
    served: Served, session: Session, people: dict[str, StaffUser]
) -> None:
    watch = live_queue.watch
    participant = add_participant(session, "P-702")
    async with console(served, "joy") as http:
        streams = [http.stream("GET", EVENTS) for _ in range(3)]
        opened = [await stream.__aenter__() for stream in streams]
        try:
            await until(lambda: watch.listeners == 3 and watch.polls > 0, "three listeners")
            before, started = watch.polls, time.monotonic()
            await asyncio.sleep(2.5)
            polls_per_second = (watch.polls - before) / (time.monotonic() - started)
            assert polls_per_second < 2  # one query a second for all three, not three

            add_escalation(session, participant)
            names = await asyncio.gather(*(next_event(o.aiter_lines()) for o in opened))
            assert names == ["queue", "queue", "queue"]
        finally:
            for stream in streams:
                await stream.__aexit__(None, None, None)

    await until(lambda: watch.listeners == 0 and not watch.running, "the poller to stop")


async def test_the_server_stops_promptly_with_streams_open(
    served: Served, people: dict[str, StaffUser]
) -> None:
    async with console(served, "joy") as http, http.stream("GET", EVENTS) as stream:
        await until(lambda: live_queue.watch.listeners == 1, "a listener")
        stopping = time.monotonic()
        await asyncio.to_thread(served.stop)

        assert not served.thread.is_alive()
        assert time.monotonic() - stopping < WAIT_SECONDS
        assert live_queue.watch.listeners == 0 and not live_queue.watch.running
        with pytest.raises(httpx.HTTPError):
            async for _ in stream.aiter_lines():
                pass


async def test_one_watch_tells_each_listener_once_per_change() -> None:
    version = [0]
    reads: list[int] = []

    def read() -> int:
        reads.append(version[0])
        return version[0]

    watch = QueueWatch(read, interval=0.02)
    async with watch.listen() as first, watch.listen() as second:
        await until(lambda: len(reads) >= 2, "two polls")
        version[0] = 1
        changes = await asyncio.wait_for(
            asyncio.gather(first.get(), second.get()), timeout=WAIT_SECONDS
        )
        assert changes == [1, 1]
        version[0] = 2
        version_read = len(reads)
        await until(lambda: len(reads) > version_read + 2, "more polls")
        version[0] = 3  # a second change before `first` read the one waiting: coalesced
        await asyncio.sleep(0.1)
        assert first.qsize() == 1 and second.qsize() == 1
    assert not watch.running and watch.listeners == 0


# --- the page, its list, and the audit trail ---------------------------------------------


def test_the_queue_page_is_audited_once_per_visit_and_its_refetches_not(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    escalation = add_escalation(session, add_participant(session, "P-703"))
    signed_in(client, "joy")

    page = client.get("/console/queue")
    fragment = client.get("/console/api/queue/fragment")
    client.get("/console/api/queue/fragment")
    listed = client.get("/console/api/queue")
    status = client.get(f"/console/api/escalations/{escalation.id}/status")

    assert page.status_code == fragment.status_code == listed.status_code == 200
    views = audit_events(session, "queue.view")
    assert [(event.actor, event.detail) for event in views] == [
        ("joy", f"escalations shown: {escalation.id}")
    ]
    assert f'data-escalation-id="{escalation.id}"' in fragment.text
    assert "<html" not in fragment.text and "Nurse Joy" not in fragment.text
    assert status.json() == {
        "id": escalation.id,
        "status": "open",
        "repeat_count": 0,
        "acknowledged_by": None,
        "resolved_by": None,
    }


def test_the_queue_page_lists_items_for_the_script_with_times_in_words(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    escalation = add_escalation(session, add_participant(session, "P-704"), acknowledged_by="joy")
    signed_in(client, "joy")

    page = client.get("/console/queue").text

    assert '<div id="queue"' in page
    assert '<script src="/static/queue.js"></script>' in page
    assert "<script>" not in page  # the console's CSP allows no inline script
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in page
    assert 'id="queue-reload"' in page and 'id="alerts-on"' in page
    item = re.search(r"<tr [^>]*data-escalation-id=\"(\d+)\"[^>]*>", page)
    assert item and item.group(1) == str(escalation.id)
    assert 'data-level="urgent"' in item.group(0) and 'data-study-id="P-704"' in item.group(0)
    assert "just now" in page and " UTC" not in page  # the `when` filter, in Chicago time
    assert re.search(r'title="\d{4}-\d\d-\d\d \d\d:\d\d C[SD]T"', page)


def test_the_escalation_page_follows_its_escalation(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    escalation = add_escalation(session, add_participant(session, "P-705"))
    signed_in(client, "joy")

    page = client.get(f"/console/escalations/{escalation.id}").text

    live = re.search(r'<p id="escalation-live"[^>]*>', page)
    assert live and f'data-escalation-id="{escalation.id}"' in live.group(0)
    assert 'data-status="open"' in live.group(0) and 'data-repeat-count="0"' in live.group(0)
    script = page.index('<script src="/static/queue.js"></script>')
    assert page.index("Conversation around the alert") < live.start() < script  # the end


def test_the_queue_script_and_styles_are_served(client: TestClient) -> None:
    script = client.get("/static/queue.js")
    styles = client.get("/static/console.css")

    assert script.status_code == 200 and "new EventSource(EVENTS)" in script.text
    assert "new Notification(" in script.text and "data-escalation-id" not in styles.text
    assert "table.cards" in styles.text
