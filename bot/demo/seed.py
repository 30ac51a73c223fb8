"""The embedded demo: what `make run` adds to a fresh SQLite database so there is something
to look at — weeks of simulated participants (bot.demo.simulation), one console user per
role, and the people the study's `escalation.alerts` names (the example's nurse.kim,
dr.okafor, maria.lopez) as care-team users with fictional phone numbers (555-01xx) and
Telegram chat IDs, so alerts are delivered to named people from the start: in the console
always, by SMS and Telegram once those are configured (to fictional addresses: an admin
puts real ones in). Passwords are made now and shown once.

It runs only with the embedded SQLite default (DEMO_DATA, on by default there) and never
touches a database that already has console users.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from bot.core.settings import Settings
from bot.db.models import StaffRole, StaffUser
from bot.db.session import session_scope
from bot.demo.simulation import seed
from bot.staff.auth import create_user
from bot.study.config import StudyConfig, current_study

logger = logging.getLogger(__name__)

# The study team's fictional addresses: +1 202 555-0101, -0102, ... and chat IDs 5550101, ...
TEAM_PHONE_PREFIX = "+120255501"
TEAM_CHAT_PREFIX = "55501"
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
            lines.append(
                "Console users for the demo (one-time passwords, shown only now; each "
                "chooses their own at first sign-in):"
            )
            for user in demo_users(current_study()):
                password = secrets.token_urlsafe(12)
                create_user(
                    session=session,
                    actor="system",
                    username=user.username,
                    display_name=user.display_name,
                    role=user.role,
                    password=password,
                    phone=user.phone,
                    telegram_chat_id=user.telegram_chat_id,
                    # Printed on the terminal: one-time, each chooses their own at sign-in.
                    must_change_password=True,
                )
                lines.append(f"  {user.role.value:<10} {user.username:<16} {password}")
    return lines


@dataclass(frozen=True)
class DemoUser:
    """A console user the demo makes (alert addresses are fictional)."""

    username: str
    display_name: str
    role: StaffRole
    phone: str | None = None
    telegram_chat_id: str | None = None


def demo_users(study: StudyConfig) -> list[DemoUser]:
    """One user per role, then everyone the study's alerts name, with fictional addresses."""
    users = [DemoUser(username, name, role) for username, name, role in DEMO_USERS]
    alerts = study.escalation.alerts
    named = dict.fromkeys([*alerts.on_call, *alerts.backup, *alerts.everyone])
    taken = {user.username for user in users}
    for number, username in enumerate((name for name in named if name not in taken), start=1):
        users.append(
            DemoUser(
                username,
                username.replace(".", " ").replace("_", " ").title(),
                StaffRole.STAFF,
                phone=f"{TEAM_PHONE_PREFIX}{number:02d}",
                telegram_chat_id=f"{TEAM_CHAT_PREFIX}{number:02d}",
            )
        )
    return users
