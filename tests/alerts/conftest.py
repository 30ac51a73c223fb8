"""Fixtures for alert tests (tests/alerts/support.py) and cheap password hashing."""

from __future__ import annotations

from tests.alerts.support import alert_env, clock, rasa_api, staff, telegram_api, twilio_api
from tests.staff.conftest import fast_password_hashing

__all__ = [
    "alert_env",
    "clock",
    "fast_password_hashing",
    "rasa_api",
    "staff",
    "telegram_api",
    "twilio_api",
]
