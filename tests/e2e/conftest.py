"""The whole assistant running for real: Rasa server with the trained model, action server
and web app, on free ports, with a fresh database. Started once per test session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.core.settings import PROJECT_ROOT, Settings
from bot.db.session import migrate
from tests.stand_ins.stack import StartError, free_port, running

__all__ = ["free_port"]


@dataclass(frozen=True)
class Stack:
    """Addresses of the running assistant, and its settings."""

    settings: Settings
    web_url: str
    rasa_url: str

    def chat(self, sender: str, message: str) -> list[dict]:
        """Send a message through the chat page's API; return the assistant's messages."""
        reply = httpx.post(
            f"{self.web_url}/api/chat", json={"sender": sender, "message": message}, timeout=60
        )
        reply.raise_for_status()
        return list(reply.json()["messages"])

    def texts(self, sender: str, message: str) -> list[str]:
        """Just the texts of the assistant's reply."""
        return [m["text"] for m in self.chat(sender, message) if m.get("text")]


@contextmanager
def stack_started(
    tmp_path_factory: pytest.TempPathFactory, name: str, **settings_overrides: Any
) -> Iterator[Stack]:
    """Start the three processes the way `trialbot run` does (fresh SQLite database, free
    ports, `settings_overrides` on top), and stop them afterwards."""
    model = PROJECT_ROOT / "models" / "trialbot.tar.gz"
    if not model.exists():
        pytest.fail(f"no trained model at {model}: run `make train` first")
    data_dir: Path = tmp_path_factory.mktemp(name)
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'trialbot.db'}",
        rasa_port=free_port(),
        actions_port=free_port(),
        web_port=free_port(),
        # Many conversations from one address (this machine): no per-address chat limits.
        chat_rate_limit="",
        chat_new_sender_limit="",
        rasa_api_token="e2e-token",
        **settings_overrides,
    )
    migrate(settings.database_url)
    try:
        with running(settings, data_dir / "logs"):
            yield Stack(settings, f"http://127.0.0.1:{settings.web_port}", settings.rasa_url)
    except StartError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The assistant for the end-to-end tests, started once per test session."""
    with stack_started(tmp_path_factory, "stack") as started:
        yield started
