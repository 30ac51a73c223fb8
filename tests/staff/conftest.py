"""Fixtures for staff tests: keys that work on any database, and cheap argon2 parameters."""

from __future__ import annotations

import secrets

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet

from bot.core.settings import get_settings
from bot.staff import auth

# Still argon2id, with the smallest sensible cost (the real parameters are argon2-cffi's).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def staff_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """ENCRYPTION_KEY and SECRET_KEY set, as PostgreSQL needs them."""
    monkeypatch.setenv("ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash with FAST_HASHER in tests."""
    monkeypatch.setattr(auth, "password_hasher", FAST_HASHER)
    auth._dummy_hash.cache_clear()
