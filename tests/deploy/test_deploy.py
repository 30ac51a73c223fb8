"""The shipped production files work: systemd accepts every unit, and nginx, run with the
shipped site config in front of stand-in servers, exposes only what is public, refuses
oversized bodies before they reach Rasa, skips a dead instance, and limits floods.

Needs Debian's `nginx` and `systemd-analyze` (a missing one is a failure, never a skip).
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bot.cli import PROCESS_NAMES
from bot.core.settings import PROJECT_ROOT
from tests.stand_ins.edge import free_port, running_edge, tool

DEPLOY = PROJECT_ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("trialbot*"))
EVENTS = "/console/api/queue/events"
STREAM_PAUSE_SECONDS = 3.0


# --- systemd ------------------------------------------------------------------------


def test_every_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """The units as shipped, with /opt/trialbot pointed at this checkout."""
    env = tmp_path / "trialbot.env"
    env.write_text("LOG_LEVEL=INFO\n")
    for unit in UNITS:
        text = (
            unit.read_text()
            .replace("/opt/trialbot", str(PROJECT_ROOT))
            .replace("/etc/trialbot/trialbot.env", str(env))
            .replace("User=trialbot", "User=root")
            .replace("Group=trialbot", "Group=root")
        )
        (tmp_path / unit.name).write_text(text)
    instances = [
        tmp_path / (unit.name.replace("@.", "@5005.") if "@." in unit.name else unit.name)
        for unit in UNITS
    ]
    result = subprocess.run(  # noqa: S603 - a fixed tool on our own files
        [tool("systemd-analyze"), "verify", "--man=no", *map(str, instances)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    complaints = [line for line in result.stderr.splitlines() if str(tmp_path) in line]
    assert complaints == []


def test_each_process_has_a_unit_that_restarts_it_on_its_own() -> None:
    served = {}
    for unit in (unit for unit in UNITS if unit.suffix == ".service"):
        text = unit.read_text()
        match = re.search(r"^ExecStart=\S+/trialbot (serve (\w+)|migrate)", text, re.M)
        assert match, unit.name
        if match.group(2):
            served[match.group(2)] = unit.name
            assert "Restart=always" in text and "StartLimitIntervalSec=0" in text
            assert unit.name.endswith("@.service")  # templated: several instances
    assert set(served) == set(PROCESS_NAMES)


# --- nginx --------------------------------------------------------------------------


@dataclass
class StandIn:
    """A stand-in server: records each request's path and body size, answers 200."""

    name: str
    port: int
    seen: list[tuple[str, str, int]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> StandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # no kept-alive connection outlives stop()

            def _answer(self) -> None:
                if self.path == EVENTS:
                    self._stream()
                    return
                size = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(size)
                stand_in.seen.append((self.command, self.path, size))
                body = stand_in.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self) -> None:
                """Server-sent events: one now, the next a while later (as the console)."""
                stand_in.seen.append((self.command, self.path, 0))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for _ in range(2):
                    self.wfile.write(b"event: queue\ndata: {}\n\n")
                    self.wfile.flush()
                    time.sleep(STREAM_PAUSE_SECONDS)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class Served:
    """nginx in front of two Rasa and two web stand-ins."""

    public: str
    internal_rasa: str
    rasa: list[StandIn]
    web: list[StandIn]


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """nginx with the shipped site config, in front of two Rasa and two web stand-ins."""
    rasa = [StandIn("rasa-1", free_port()).start(), StandIn("rasa-2", free_port()).start()]
    web = [StandIn("web-1", free_port()).start(), StandIn("web-2", free_port()).start()]
    try:
        with running_edge(
            tmp_path_factory.mktemp("nginx"),
            rasa=[s.port for s in rasa],
            actions=[free_port(), free_port()],
            web=[s.port for s in web],
        ) as running:
            yield Served(running.public, running.internal_rasa, rasa, web)
    finally:
        for stand_in in (*rasa, *web):
            stand_in.stop()


def client() -> httpx.Client:
    return httpx.Client(verify=False, timeout=10)  # noqa: S501 - a test certificate


def rasa_paths(edge: Served) -> list[str]:
    return [path for stand_in in edge.rasa for _, path, _ in stand_in.seen]


def test_only_the_channel_webhooks_reach_rasa_from_outside(edge: Served) -> None:
    with client() as http:
        twilio = http.post(f"{edge.public}/webhooks/twilio/webhook", data={"Body": "hi"})
        telegram = http.post(f"{edge.public}/webhooks/telegram/webhook", json={"update_id": 1})
        hidden = {
            path: http.request(method, f"{edge.public}{path}").status_code
            for method, path in [
                ("POST", "/webhooks/rest/webhook"),
                ("GET", "/webhooks/health/"),
                ("GET", "/webhooks/anything"),
            ]
        }
        api = http.post(f"{edge.public}/model/parse", json={"text": "hi"})
        conversations = http.get(f"{edge.public}/conversations/web-x/tracker")

    assert twilio.status_code == 200 and twilio.text.startswith("rasa-")
    assert telegram.status_code == 200 and telegram.text.startswith("rasa-")
    assert hidden == dict.fromkeys(hidden, 404)
    # Rasa's API paths are not Rasa's from outside: they land on the web app (its 404s).
    assert api.text.startswith("web-") and conversations.text.startswith("web-")
    assert "/model/parse" not in rasa_paths(edge)
    assert not any(path.startswith("/conversations") for path in rasa_paths(edge))


def test_a_body_over_64_kb_is_refused_before_it_reaches_rasa(edge: Served) -> None:
    before = len(rasa_paths(edge))
    with client() as http:
        large = http.post(f"{edge.public}/webhooks/telegram/webhook", content=b"x" * 70_000)
        small = http.post(f"{edge.public}/webhooks/telegram/webhook", content=b"x" * 60_000)
    assert large.status_code == 413
    assert small.status_code == 200
    assert len(rasa_paths(edge)) == before + 1


def test_the_internal_listener_reaches_rasa_s_api(edge: Served) -> None:
    with httpx.Client(timeout=10) as http:
        parse = http.post(f"{edge.internal_rasa}/model/parse", json={"text": "hi"})
    assert parse.status_code == 200 and parse.text.startswith("rasa-")


def test_a_dead_rasa_instance_is_skipped(edge: Served) -> None:
    edge.rasa[0].stop()
    try:
        with client() as http:
            answers = [
                http.post(f"{edge.public}/webhooks/twilio/webhook", data={"n": str(n)})
                for n in range(6)
            ]
        assert [answer.status_code for answer in answers] == [200] * 6
        assert {answer.text for answer in answers} == {"rasa-2"}
    finally:
        edge.rasa[0].start()


def test_a_chat_flood_from_one_address_is_limited_at_the_edge(edge: Served) -> None:
    with client() as http:
        codes = [
            http.post(
                f"{edge.public}/api/chat", json={"sender": "web-flood", "message": "x"}
            ).status_code
            for _ in range(30)
        ]
    assert codes.count(200) <= 12  # the burst, and not much more
    assert codes.count(429) >= 15


def test_the_live_queue_s_events_pass_through_at_once(edge: Served) -> None:
    """nginx does not hold server-sent events back until a buffer fills (proxy_buffering)."""
    with client() as http, http.stream("GET", f"{edge.public}{EVENTS}") as stream:
        started = time.monotonic()
        first = next(stream.iter_lines())
        waited = time.monotonic() - started

    assert first == "event: queue"
    assert waited < STREAM_PAUSE_SECONDS  # not held until the stand-in's stream ended
    # This nginx passes these small events on even when buffering; other builds and
    # proxies in front may not, so the site turns buffering off on that path.
    site = (DEPLOY / "nginx" / "trialbot.conf").read_text()
    location = site[site.index(f"location = {EVENTS} {{") :]
    assert "proxy_buffering off;" in location[: location.index("}")]
