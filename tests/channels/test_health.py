"""The Rasa server's health check: the model, the database and Rasa's lock store."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from rasa.core.channels.channel import register
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from sanic import Sanic

from bot.channels.health import HealthInput
from tests.stand_ins.sanic_app import serving


@dataclass
class Agent:
    """What the health check reads of Rasa's agent."""

    ready: bool
    lock_store: LockStore

    def is_ready(self) -> bool:
        return self.ready


async def health_of(agent: Any, monkeypatch: pytest.MonkeyPatch) -> httpx.Response:
    app = Sanic(f"health_test_{secrets.token_hex(6)}", configure_logging=False)
    app.ctx.agent = agent
    register([HealthInput()], app, route="/webhooks/")
    async with serving(app, monkeypatch) as base_url, httpx.AsyncClient() as client:
        return await client.get(f"{base_url}/webhooks/health/")


async def test_healthy_with_the_model_the_database_and_redis(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = Agent(ready=True, lock_store=RedisLockStore(host="127.0.0.1", port=6379, db=3))
    answer = await health_of(agent, monkeypatch)
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "checks": {"model": "ok", "database": "ok", "lock_store": "ok"},
    }


async def test_a_missing_model_or_an_unreachable_redis_is_503(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_model = await health_of(Agent(False, InMemoryLockStore()), monkeypatch)
    assert no_model.status_code == 503 and no_model.json()["checks"]["model"] == "not loaded"

    dead_redis = RedisLockStore(host="127.0.0.1", port=1, db=3, socket_timeout=1)
    no_redis = await health_of(Agent(True, dead_redis), monkeypatch)
    assert no_redis.status_code == 503
    assert no_redis.json()["checks"]["lock_store"] == "ConnectionError"
