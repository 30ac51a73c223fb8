"""Rasa's side of the web chat (bot.channels.web_chat) refuses every message while the web
chat is off: by default with PostgreSQL, or when WEB_CHAT_ENABLED=false.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.channels.web_chat import WebChatInput
from bot.core.settings import get_settings


def routes(handled: list[Any]) -> dict[str, Any]:
    """The channel's route handlers by path, with a stand-in for Rasa's message handler."""

    async def on_new_message(message: Any) -> None:
        handled.append(message)

    blueprint = WebChatInput().blueprint(on_new_message)
    return {route.uri: route.handler for route in blueprint._future_routes}


@pytest.mark.parametrize(
    ("database", "setting"),
    [("postgresql://trialbot@127.0.0.1:1/not-used", None), ("sqlite:///unused.db", "false")],
)
async def test_the_rasa_side_refuses_while_the_web_chat_is_off(
    monkeypatch: pytest.MonkeyPatch, database: str, setting: str | None
) -> None:
    monkeypatch.setenv("DATABASE_URL", database)
    if setting is None:
        monkeypatch.delenv("WEB_CHAT_ENABLED", raising=False)
    else:
        monkeypatch.setenv("WEB_CHAT_ENABLED", setting)
    get_settings.cache_clear()
    handled: list[Any] = []
    handlers = routes(handled)

    health = await handlers["/"](None)
    reply = await handlers["/webhook"](None)  # refused before the request is even read

    assert health.body == b'{"status":"disabled"}'
    assert reply.status == 404 and b"disabled" in reply.body
    assert handled == []
