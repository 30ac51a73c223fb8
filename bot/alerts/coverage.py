"""Whether every alert round the study uses reaches a person (checked at start, shown always).

For each escalation level and each round it is sent in (emergency and urgent: first,
backup, everyone; routine: first only), at least one recipient must be reachable:

- an active staff user named for that round (`escalation.alerts`) whose role may act on
  escalations, and
- when the level lists SMS or Telegram and that channel is enabled (its credentials set),
  a VERIFIED address on one of them: a phone number for SMS, a Telegram chat ID for
  Telegram, that the person proved reaches them by typing in the console a check code
  sent there (bot.alerts.verification). When no paging channel of the level is enabled,
  the console is how the alert reaches them, and being a named active user is enough.

An address nobody verified (an admin typed it in: `trialbot create-user`, the console;
or it changed since) does not count here, but alerts are still sent to it
(bot.alerts.planning): a page that may arrive is better than none. It just does not make
a round covered: the problem line names who has no verified address.
The staff Telegram group is not counted: it is not a person who acknowledges.

The alert worker's start-up, `trialbot run` and `trialbot check-study` log or print each
problem (one line per level), and the console shows them to every signed-in user in a red
banner until they are fixed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy.orm import Session

from bot.alerts.planning import (
    FIRST,
    RE_ESCALATED_LEVELS,
    ROUND_NAMES,
    ROUNDS,
    channels_for,
    has_address,
    recipients_for,
    usernames_for,
)
from bot.alerts.verification import is_verified
from bot.core.settings import Settings
from bot.db.models import AlertChannel, EscalationLevel, StaffUser
from bot.study.config import StudyConfig


def enabled_channels(settings: Settings) -> frozenset[AlertChannel]:
    """The alert channels the settings enable (the console always)."""
    channels = {AlertChannel.CONSOLE}
    if settings.telegram_enabled:
        channels.add(AlertChannel.TELEGRAM)
    if settings.twilio_enabled:
        channels.add(AlertChannel.SMS)
    return frozenset(channels)


def alert_coverage_problems(
    *, session: Session, study: StudyConfig, settings: Settings
) -> list[str]:
    """One line per escalation level whose alert reaches nobody in some round (empty: fine)."""
    return coverage_problems(session=session, study=study, enabled=enabled_channels(settings))


def coverage_problems(
    *, session: Session, study: StudyConfig, enabled: Collection[AlertChannel]
) -> list[str]:
    """`alert_coverage_problems` for a given set of enabled channels (the worker's own)."""
    problems = []
    for level in EscalationLevel:
        rounds = ROUNDS if level in RE_ESCALATED_LEVELS else (FIRST,)
        paging = [
            channel
            for channel in channels_for(study, level)
            if channel is not AlertChannel.CONSOLE and channel in enabled
        ]
        gaps = [
            gap
            for round_number in rounds
            if (gap := _round_gap(session, study, round_number, paging)) is not None
        ]
        if gaps:
            problems.append(f"{level.value} alerts reach nobody in the " + "; ".join(gaps))
    return problems


def _round_gap(
    session: Session, study: StudyConfig, round_number: int, paging: Sequence[AlertChannel]
) -> str | None:
    """Why nobody in a round is reachable (None: someone is)."""
    users = recipients_for(session=session, study=study, round_number=round_number, warn=False)
    if any(_reachable(user, paging) for user in users):
        return None
    name = ROUND_NAMES[round_number]
    named = usernames_for(study.escalation.alerts, round_number)
    if not named and not users:
        return f"{name} round (escalation.alerts names nobody for it)"
    found = {user.username for user in users}
    missing = [username for username in named if username not in found]
    reasons = []
    if missing:
        reasons.append(f"{', '.join(missing)}: not an active console user who may act")
    wanted = " or ".join(channel.value for channel in paging)
    unverified = [user for user in users if any(has_address(user, channel) for channel in paging)]
    without = [user for user in users if user not in unverified]
    if without:
        reasons.append(f"{_names(without)}: no address for {wanted}")
    if unverified:
        reasons.append(
            f"{_names(unverified)}: no verified address for {wanted} "
            "(each verifies theirs on their console account page)"
        )
    return f"{name} round ({'; '.join(reasons)})"


def _names(users: Sequence[StaffUser]) -> str:
    return ", ".join(user.username for user in users)


def _reachable(user: StaffUser, paging: Sequence[AlertChannel]) -> bool:
    """True when an alert surely reaches the user: at a verified address on a paging
    channel, else (no paging channel enabled) on the console."""
    if not paging:
        return True
    return any(is_verified(user, channel) for channel in paging)
