"""Fixtures for web-app tests (the staff console's: keys and cheap password hashing)."""

from __future__ import annotations

from tests.staff.conftest import fast_password_hashing, staff_keys

__all__ = ["fast_password_hashing", "staff_keys"]
