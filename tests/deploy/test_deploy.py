"""The shipped production files work: systemd accepts every unit, and nginx, run with the
shipped site config in front of stand-in servers, exposes only what is public, refuses
oversized bodies before they reach Rasa, skips a dead instance, and limits floods.

Needs Debian's `nginx` and `systemd-analyze` (a missing one is a failure, never a skip).
"""

from __future__ import annotations

import re
import shutil
import socket
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

DEPLOY = PROJECT_ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("trialbot*"))


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"{name} is not installed (apt-get install nginx / systemd)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
                size = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(size)
                stand_in.seen.append((self.command, self.path, size))
                body = stand_in.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

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
class Edge:
    public: str
    internal_rasa: str
    rasa: list[StandIn]
    web: list[StandIn]


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """nginx with the shipped site config, in front of two Rasa and two web stand-ins."""
    root = tmp_path_factory.mktemp("nginx")
    subprocess.run(  # noqa: S603 - a fixed tool
        [
            tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=trial.example.org", "-keyout", str(root / "key.pem"),
            "-out", str(root / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    ports = {name: free_port() for name in ("https", "http", "rasa_api", "actions_api")}
    rasa = [StandIn("rasa-1", free_port()).start(), StandIn("rasa-2", free_port()).start()]
    web = [StandIn("web-1", free_port()).start(), StandIn("web-2", free_port()).start()]
    site = (DEPLOY / "nginx" / "trialbot.conf").read_text()
    for old, new in {
        "127.0.0.1:5005": f"127.0.0.1:{rasa[0].port}",
        "127.0.0.1:5006": f"127.0.0.1:{rasa[1].port}",
        "127.0.0.1:8000": f"127.0.0.1:{web[0].port}",
        "127.0.0.1:8001": f"127.0.0.1:{web[1].port}",
        "127.0.0.1:5055": f"127.0.0.1:{free_port()}",
        "127.0.0.1:5056": f"127.0.0.1:{free_port()}",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{ports['https']} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "listen 80;": f"listen 127.0.0.1:{ports['http']};",
        "listen [::]:80;": "",
        "listen 127.0.0.1:5000;": f"listen 127.0.0.1:{ports['rasa_api']};",
        "listen 127.0.0.1:5050;": f"listen 127.0.0.1:{ports['actions_api']};",
        "/etc/letsencrypt/live/trial.example.org/fullchain.pem": str(root / "cert.pem"),
        "/etc/letsencrypt/live/trial.example.org/privkey.pem": str(root / "key.pem"),
        "/var/log/nginx/trialbot.access.log": str(root / "access.log"),
    }.items():
        assert old in site, old
        site = site.replace(old, new)
    (root / "trialbot.conf").write_text(site)
    (root / "nginx.conf").write_text(
        f"pid {root / 'nginx.pid'};\nerror_log {root / 'error.log'};\n"
        "events { worker_connections 256; }\n"
        f"http {{ access_log off; include {root / 'trialbot.conf'}; }}\n"
    )
    nginx = tool("nginx")
    test = subprocess.run(  # noqa: S603 - a fixed tool
        [nginx, "-t", "-p", str(root), "-c", str(root / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert test.returncode == 0, test.stderr
    process = subprocess.Popen(  # noqa: S603 - a fixed tool
        [nginx, "-p", str(root), "-c", str(root / "nginx.conf"), "-g", "daemon off;"]
    )
    public = f"https://127.0.0.1:{ports['https']}"
    for _ in range(100):
        try:
            httpx.get(f"{public}/", verify=False, timeout=1)  # noqa: S501 - a test certificate
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield Edge(public, f"http://127.0.0.1:{ports['rasa_api']}", rasa, web)
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stand_in in (*rasa, *web):
            stand_in.stop()


def client() -> httpx.Client:
    return httpx.Client(verify=False, timeout=10)  # noqa: S501 - a test certificate


def rasa_paths(edge: Edge) -> list[str]:
    return [path for stand_in in edge.rasa for _, path, _ in stand_in.seen]


def test_only_the_channel_webhooks_reach_rasa_from_outside(edge: Edge) -> None:
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


def test_a_body_over_64_kb_is_refused_before_it_reaches_rasa(edge: Edge) -> None:
    before = len(rasa_paths(edge))
    with client() as http:
        large = http.post(f"{edge.public}/webhooks/telegram/webhook", content=b"x" * 70_000)
        small = http.post(f"{edge.public}/webhooks/telegram/webhook", content=b"x" * 60_000)
    assert large.status_code == 413
    assert small.status_code == 200
    assert len(rasa_paths(edge)) == before + 1


def test_the_internal_listener_reaches_rasa_s_api(edge: Edge) -> None:
    with httpx.Client(timeout=10) as http:
        parse = http.post(f"{edge.internal_rasa}/model/parse", json={"text": "hi"})
    assert parse.status_code == 200 and parse.text.startswith("rasa-")


def test_a_dead_rasa_instance_is_skipped(edge: Edge) -> None:
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


def test_a_chat_flood_from_one_address_is_limited_at_the_edge(edge: Edge) -> None:
    with client() as http:
        codes = [
            http.post(
                f"{edge.public}/api/chat", json={"sender": "web-flood", "message": "x"}
            ).status_code
            for _ in range(30)
        ]
    assert codes.count(200) <= 12  # the burst, and not much more
    assert codes.count(429) >= 15
