"""The action server runs actions only for the Rasa server (its token), and its health
check says whether the database answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from bot.action_server import build_app
from bot.core.settings import Settings, SettingsError
from tests.stand_ins.sanic_app import serving

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "action-server-token-for-tests"
# What `python -m bot.action_server` imports before it serves: its module, and every
# action module (rasa_sdk's create_app registers the package `bot.actions`).
LOAD_SCRIPT = """
import json, sys
from bot.action_server import build_app
from bot.core.settings import Settings
build_app(Settings(database_url=sys.argv[1], action_server_token="t" * 32))
heavy = ("tensorflow", "torch", "spacy", "thinc", "rasa")
print(json.dumps({
    "actions": "bot.actions.symptoms" in sys.modules,
    "loaded": sorted(name for name in heavy if name in sys.modules),
}))
"""
CALL = {
    "next_action": "action_emergency",
    "sender_id": "web-forged-sender",
    "tracker": {"sender_id": "web-forged-sender", "slots": {}, "latest_message": {}, "events": []},
    "domain": {},
    "version": "3.6.21",
}


@pytest.fixture(autouse=True)
def fresh_app_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """rasa_sdk names every app "rasa_sdk"; Sanic refuses a second app of one name."""
    monkeypatch.setattr(Sanic, "_app_registry", {})


async def test_a_call_without_the_token_runs_nothing(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build_app(Settings(database_url=database_url, action_server_token=TOKEN))
    async with serving(app, monkeypatch) as base_url, httpx.AsyncClient(timeout=30) as client:
        forged = await client.post(f"{base_url}/webhook", json=CALL)
        wrong = await client.post(f"{base_url}/webhook", params={"token": "guess"}, json=CALL)
        listing = await client.get(f"{base_url}/actions")
        health = await client.get(f"{base_url}/healthz")
        rasa = await client.get(f"{base_url}/actions", params={"token": TOKEN})

    assert (forged.status_code, wrong.status_code, listing.status_code) == (401, 401, 401)
    assert health.status_code == 200 and health.json()["checks"] == {"database": "ok"}
    assert rasa.status_code == 200
    assert {"name": "action_emergency"} in rasa.json()


async def test_the_health_check_fails_when_the_database_does_not_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = build_app(
        Settings(database_url="postgresql://nobody@127.0.0.1:1/none", action_server_token=TOKEN)
    )
    async with serving(app, monkeypatch) as base_url, httpx.AsyncClient(timeout=30) as client:
        health = await client.get(f"{base_url}/healthz")
    assert health.status_code == 503 and health.json()["status"] == "failing"


def test_without_a_token_it_starts_only_on_the_demo_database() -> None:
    with pytest.raises(SettingsError, match="ACTION_SERVER_TOKEN"):
        build_app(Settings(database_url="postgresql://x@127.0.0.1/x", action_server_token=""))


def test_the_action_server_does_not_load_tensorflow(tmp_path: Path) -> None:
    """A fresh action server holds its actions, without TensorFlow (~400 MiB).

    spaCy would bring it (thinc imports TensorFlow whenever it is installed); the actions
    read the symptoms' labels from bot.nlp.symptoms, which does not import spaCy.
    """
    result = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", LOAD_SCRIPT, f"sqlite:///{tmp_path / 'actions.db'}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["actions"] is True
    assert "tensorflow" not in loaded["loaded"], loaded["loaded"]
