"""endpoints.yml gives Rasa its own RedisLockStore when REDIS_URL is set (several Rasa
servers, one conversation at a time, in order), and the in-memory one otherwise.

Needs the Redis server on 127.0.0.1:6379 (there on development machines and in CI; a
missing Redis is a failure, never a skip).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.utils import AvailableEndpoints

from bot.core.settings import PROJECT_ROOT, Settings, SettingsError

REDIS_URL = "redis://127.0.0.1:6379/3"


def lock_store_for(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> LockStore:
    for name, value in settings.child_environment().items():
        monkeypatch.setenv(name, value)
    endpoints = AvailableEndpoints.read_endpoints(str(PROJECT_ROOT / "endpoints.yml"))
    return LockStore.create(endpoints.lock_store)


def test_without_redis_the_lock_store_is_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(lock_store_for(Settings(redis_url=""), monkeypatch), InMemoryLockStore)


def test_with_redis_two_servers_share_one_lock_per_conversation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = lock_store_for(Settings(redis_url=REDIS_URL), monkeypatch)
    second = lock_store_for(Settings(redis_url=REDIS_URL), monkeypatch)
    assert isinstance(first, RedisLockStore) and isinstance(second, RedisLockStore)
    conversation = f"test-{uuid.uuid4().hex}"
    order: list[str] = []

    async def turn(store: LockStore, name: str, hold: float) -> None:
        async with store.lock(conversation, wait_time_in_seconds=0.01):
            order.append(f"{name} in")
            await asyncio.sleep(hold)
            order.append(f"{name} out")

    async def both() -> None:
        first_turn = asyncio.create_task(turn(first, "first", 0.3))
        await asyncio.sleep(0.05)  # the first message arrived first
        await turn(second, "second", 0.0)
        await first_turn

    asyncio.run(both())
    assert order == ["first in", "first out", "second in", "second out"]


def test_a_redis_url_that_is_not_one_is_refused() -> None:
    with pytest.raises(SettingsError):
        Settings(redis_url="http://127.0.0.1:6379").lock_store_environment()
    environment = Settings(
        redis_url="redis://:p%40ss@cache.internal:6380/2"
    ).lock_store_environment()
    assert environment == {
        "LOCK_STORE_TYPE": "redis",
        "LOCK_STORE_HOST": "cache.internal",
        "LOCK_STORE_PORT": "6380",
        "LOCK_STORE_DB": "2",
        "LOCK_STORE_PASSWORD": "p@ss",
    }
