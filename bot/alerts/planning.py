"""Who gets an alert, on which channel, in which round: derived from the study config.

Rounds: 0 goes to the on-call staff and the staff Telegram group; 1 (the response time
passed without an acknowledgement) to the backup; 2 (the same time again) to everyone, the
group again included. Each staff user is reached on every channel the level lists for which
their account has an address (verified or not: `bot.alerts.coverage` counts only verified
ones, but a page that may arrive is better than none), and on the console (a row naming
them: the console queue shows it to them when signed in, so it counts as delivered at once).
Every round also has one console row for the queue itself (recipient "queue"): the console
queue always shows the escalation, and the row marks the round as planned even when nobody
could be reached; the escalation page shows such a round as "nobody to page". Channels
without credentials are left out (start-up says so; `bot.alerts.coverage` checks that every
round still reaches someone). Test traffic (a participant marked `is_test`: every web-chat
visitor) pages no phone and no chat: its escalations get the console rows only (the queue
and the named staff), in every round (`for_participant`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import AlertChannel, EscalationLevel, StaffUser
from bot.escalation.queue import response_target
from bot.staff.permissions import Permission, allows
from bot.study.config import StaffAlerts, StudyConfig

logger = logging.getLogger(__name__)

FIRST, BACKUP, EVERYONE = 0, 1, 2
ROUNDS = (FIRST, BACKUP, EVERYONE)
ROUND_NAMES = {FIRST: "first", BACKUP: "backup", EVERYONE: "everyone"}
# Only these levels are re-sent when nobody acknowledges them in time.
RE_ESCALATED_LEVELS = frozenset({EscalationLevel.EMERGENCY, EscalationLevel.URGENT})
GROUP_RECIPIENT = "group chat"
QUEUE_RECIPIENT = "queue"


@dataclass(frozen=True)
class Target:
    """One planned delivery: a channel and a recipient (a label, never an address)."""

    channel: AlertChannel
    recipient: str
    staff_user_id: int | None = None


CONSOLE_TARGET = Target(AlertChannel.CONSOLE, QUEUE_RECIPIENT)


def staff_label(username: str) -> str:
    """How a staff recipient is named in the delivery table and the console."""
    return f"staff:{username}"


def round_due_at(
    study: StudyConfig, level: EscalationLevel, created_at: datetime, round_number: int
) -> datetime:
    """When a round is sent: at once (0), then after each further response time."""
    return created_at + response_target(study, level) * round_number


def channels_for(study: StudyConfig, level: EscalationLevel) -> list[AlertChannel]:
    """The channels the study lists for a level (console always among them)."""
    names: list[str] = getattr(study.escalation.alerts.channels, level.value)
    channels = [AlertChannel(name) for name in dict.fromkeys(names)]
    return channels if AlertChannel.CONSOLE in channels else [*channels, AlertChannel.CONSOLE]


def usernames_for(alerts: StaffAlerts, round_number: int) -> list[str]:
    """The usernames the study config names for a round (everyone includes the others)."""
    if round_number == FIRST:
        return list(alerts.on_call)
    if round_number == BACKUP:
        return list(alerts.backup)
    return list(dict.fromkeys([*alerts.everyone, *alerts.on_call, *alerts.backup]))


def _care_team(session: Session) -> list[StaffUser]:
    """Every active user whose role may act on escalations ("everyone" when not listed)."""
    users = session.execute(
        select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.username)
    ).scalars()
    return [user for user in users if allows(user.role, Permission.ACT_ON_ESCALATIONS)]


def recipients_for(
    *, session: Session, study: StudyConfig, round_number: int, warn: bool = True
) -> list[StaffUser]:
    """The active staff users a round goes to, in the config's order.

    A name the config lists that is no active care-team user is logged (unless `warn` is
    False: `bot.alerts.coverage` reports it itself).
    """
    alerts = study.escalation.alerts
    if round_number == EVERYONE and not alerts.everyone:
        listed = {user.username: user for user in _care_team(session)}
        names = list(dict.fromkeys([*listed, *alerts.on_call, *alerts.backup]))
    else:
        names = usernames_for(alerts, round_number)
        listed = {}
    users = _users_named(session, [name for name in names if name not in listed])
    found = {**listed, **users}
    for name in names if warn else ():
        if name not in found:
            logger.warning("alerts: staff user %r (study config) is not an active user", name)
    return [found[name] for name in names if name in found]


def _users_named(session: Session, names: Collection[str]) -> dict[str, StaffUser]:
    if not names:
        return {}
    users = session.execute(
        select(StaffUser).where(StaffUser.username.in_(list(names)), StaffUser.active.is_(True))
    ).scalars()
    return {
        user.username: user for user in users if allows(user.role, Permission.ACT_ON_ESCALATIONS)
    }


def has_address(user: StaffUser, channel: AlertChannel) -> bool:
    """True when the user's account has an address for a channel (the console needs none)."""
    if channel is AlertChannel.TELEGRAM:
        return bool(user.telegram_chat_id_encrypted)
    if channel is AlertChannel.SMS:
        return bool(user.phone_encrypted)
    return True


def _user_targets(users: Iterable[StaffUser], channels: Sequence[AlertChannel]) -> list[Target]:
    return [
        Target(channel, staff_label(user.username), user.id)
        for user in users
        for channel in channels
        if has_address(user, channel)
    ]


def for_participant(targets: Sequence[Target], *, is_test: bool) -> list[Target]:
    """The deliveries an escalation of this participant gets: for test traffic the console
    rows only (the queue and the named staff on the console, which is how a demo or a
    training session sees who would be paged), never SMS or Telegram: a stranger on the
    web chat reaches nobody's phone."""
    if not is_test:
        return list(targets)
    return [target for target in targets if target.channel is AlertChannel.CONSOLE]


def plan_round(
    *,
    session: Session,
    study: StudyConfig,
    level: EscalationLevel,
    round_number: int,
    enabled: Collection[AlertChannel],
) -> list[Target]:
    """The deliveries of one round of an escalation's alert (the console row first)."""
    channels = [
        channel
        for channel in channels_for(study, level)
        if channel is AlertChannel.CONSOLE or channel in enabled
    ]
    users = recipients_for(session=session, study=study, round_number=round_number)
    targets = [CONSOLE_TARGET, *_user_targets(users, channels)]
    group = study.escalation.alerts.telegram_group_chat
    if group and AlertChannel.TELEGRAM in channels and round_number in (FIRST, EVERYONE):
        targets.append(Target(AlertChannel.TELEGRAM, GROUP_RECIPIENT))
    return targets
