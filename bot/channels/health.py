"""`GET /webhooks/health/`: the Rasa server's health, checked against what it needs.

Registered in credentials.yml like the participant channels (Rasa serves every channel's
blueprint under /webhooks/<name>/). It answers 200 when the model is loaded, the database
(trackers and the message log) answers `SELECT 1` and the lock store answers (Redis'
PING when REDIS_URL is set), and 503 with the failing checks otherwise, for a load
balancer, systemd or a monitoring check. It says nothing about participants.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.lock_store import RedisLockStore
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.db.session import database_check

logger = logging.getLogger(__name__)


def _checks(agent: Any) -> dict[str, str]:
    checks = {"model": "ok" if agent is not None and agent.is_ready() else "not loaded"}
    checks["database"] = database_check()
    lock_store = getattr(agent, "lock_store", None)
    if isinstance(lock_store, RedisLockStore):
        try:
            lock_store.red.ping()
            checks["lock_store"] = "ok"
        except Exception as error:
            checks["lock_store"] = type(error).__name__
    else:
        checks["lock_store"] = "ok (in memory)"
    return checks


class HealthInput(InputChannel):
    """Serves the health check only; it takes no messages."""

    @classmethod
    def name(cls) -> str:
        return "health"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        health = Blueprint("rasa_health", __name__)

        @health.route("/", methods=["GET"])
        async def check(request: Request) -> HTTPResponse:
            agent = getattr(request.app.ctx, "agent", None)
            checks = await asyncio.to_thread(_checks, agent)
            healthy = all(value.startswith("ok") for value in checks.values())
            if not healthy:
                logger.warning("health: failing checks %s", checks)
            return response.json(
                {"status": "ok" if healthy else "failing", "checks": checks},
                status=200 if healthy else 503,
            )

        return health
