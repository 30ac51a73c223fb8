"""nginx run for real with the shipped site config (deploy/nginx/trialbot.conf), its ports,
certificate and upstreams pointed at this machine's test servers.

Only what an administrator edits is replaced: the listen ports, the certificate (a
self-signed one made here), the log path and the upstream `server` lines.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.core.settings import PROJECT_ROOT
from tests.stand_ins.stack import free_port

__all__ = ["free_port"]

SITE = PROJECT_ROOT / "deploy" / "nginx" / "trialbot.conf"


def tool(name: str) -> str:
    """The path of a system tool; a missing one fails the test (it is never skipped)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"{name} is not installed (Debian: apt-get install {name})")
    return path


@dataclass(frozen=True)
class Edge:
    """The running nginx: its public https address and its two internal listeners."""

    public: str
    internal_rasa: str
    internal_actions: str


def _upstream(site: str, name: str, ports: Sequence[int]) -> str:
    start = site.index(f"upstream {name} {{")
    end = site.index("}", start)
    servers = "".join(
        f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in ports
    )
    return site[:start] + f"upstream {name} {{\n{servers}    keepalive 16;\n" + site[end:]


@contextmanager
def running_edge(
    root: Path, *, rasa: Sequence[int], actions: Sequence[int], web: Sequence[int]
) -> Iterator[Edge]:
    """Start nginx in `root` in front of the given upstream ports; stop it on exit."""
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
    site = SITE.read_text()
    site = _upstream(site, "trialbot_rasa", rasa)
    site = _upstream(site, "trialbot_actions", actions)
    site = _upstream(site, "trialbot_web", web)
    for old, new in {
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
        assert old in site, f"the site config no longer has {old!r}"
        site = site.replace(old, new)
    (root / "trialbot.conf").write_text(site)
    (root / "nginx.conf").write_text(
        f"pid {root / 'nginx.pid'};\nerror_log {root / 'error.log'};\n"
        "events { worker_connections 1024; }\n"
        f"http {{ access_log off; include {root / 'trialbot.conf'}; }}\n"
    )
    nginx = tool("nginx")
    check = subprocess.run(  # noqa: S603 - a fixed tool
        [nginx, "-t", "-p", str(root), "-c", str(root / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(  # noqa: S603 - a fixed tool
        [nginx, "-p", str(root), "-c", str(root / "nginx.conf"), "-g", "daemon off;"]
    )
    public = f"https://127.0.0.1:{ports['https']}"
    for _ in range(200):
        try:
            httpx.get(f"{public}/", verify=False, timeout=1)  # noqa: S501 - a test certificate
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield Edge(
            public,
            f"http://127.0.0.1:{ports['rasa_api']}",
            f"http://127.0.0.1:{ports['actions_api']}",
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
