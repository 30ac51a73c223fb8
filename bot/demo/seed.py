"""The embedded demo: what `make run` adds to a fresh SQLite database so there is something
to look at — weeks of simulated participants (bot.demo.simulation) and one console user
per role, with passwords made now and shown once.

It runs only with the embedded SQLite default (DEMO_DATA, on by default there) and never
touches a database that already has console users.
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import select

from bot.core.settings import Settings
from bot.db.models import StaffRole, StaffUser
from bot.db.session import session_scope
from bot.demo.simulation import seed
from bot.staff.auth import create_user
from bot.study.config import current_study

logger = logging.getLogger(__name__)

DEMO_USERS = (
    ("demo.nurse", "Demo Nurse", StaffRole.STAFF),
    ("demo.researcher", "Demo Researcher", StaffRole.RESEARCHER),
    ("demo.admin", "Demo Admin", StaffRole.ADMIN),
)


def prepare_demo(settings: Settings) -> list[str]:
    """Seed the demo once; the lines to show the person who started it."""
    if not (settings.is_sqlite and settings.demo_data):
        return []
    lines: list[str] = []
    with session_scope(settings.database_url) as session:
        summary = seed(session=session, study=current_study())
        if not summary.skipped:
            lines.append(f"Demo data: {summary.participants} simulated participants added.")
        if session.execute(select(StaffUser.id).limit(1)).first() is None:
            lines.append("Console users for the demo (passwords shown only now):")
            for username, display_name, role in DEMO_USERS:
                password = secrets.token_urlsafe(12)
                create_user(
                    session=session,
                    actor="system",
                    username=username,
                    display_name=display_name,
                    role=role,
                    password=password,
                )
                lines.append(f"  {role.value:<10} {username:<16} {password}")
    return lines
