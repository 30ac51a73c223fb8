"""Fixtures for action tests, in the style of RasaHQ's financial-demo."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.core.settings import PROJECT_ROOT


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """The project's domain as Rasa sends it to the action server."""
    from rasa.shared.core.domain import Domain

    return Domain.load(str(PROJECT_ROOT / "domain")).as_dict()


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    """Collects what an action says."""
    return CollectingDispatcher()


TrackerFactory = Callable[..., Tracker]


@pytest.fixture
def make_tracker() -> TrackerFactory:
    """Builds a tracker for a scenario: the latest message, slots and events."""

    def build(
        *,
        text: str = "",
        intent: str = "",
        confidence: float = 0.95,
        slots: dict[str, Any] | None = None,
        events: list[dict[str, Any]] | None = None,
        response_selector: dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
        sender_id: str = "P-001",
        active_loop: dict[str, Any] | None = None,
    ) -> Tracker:
        latest_message = {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "entities": entities or [],
            "response_selector": response_selector or {},
        }
        return Tracker(
            sender_id=sender_id,
            slots=slots or {},
            latest_message=latest_message,
            events=events or [],
            paused=False,
            followup_action=None,
            active_loop=active_loop or {},
            latest_action_name="action_listen",
        )

    return build
