"""Fixtures for web-app tests: the console's keys and cheap password hashing, and a test
client of the web app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.staff.conftest import fast_password_hashing, staff_keys

__all__ = ["fast_password_hashing", "staff_keys"]


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """A test client of the web app (imported once the test's settings are in place)."""
    from bot.web.app import app

    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client
