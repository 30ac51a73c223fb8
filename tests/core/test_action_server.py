"""The action server runs actions only for the Rasa server (its token), and its health
check says whether the database answers."""

from __future__ import annotations

import httpx
import pytest
from sanic import Sanic

from bot.action_server import build_app
from bot.core.settings import Settings, SettingsError
from tests.stand_ins.sanic_app import serving

TOKEN = "action-server-token-for-tests"
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
