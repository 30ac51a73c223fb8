"""What staff alerts say outside the system: the study ID, the level, a link and the
acknowledgement code. Nothing else.

Product safety rule 5: a phone's lock screen shows an SMS or Telegram alert to whoever
holds the phone, so an alert never carries the participant's name, number or words, the
escalation's type or reason ("red flag: self harm"), or even the study's name (it says
what the participant is being treated for). The reason, the messages and everything a
nurse needs are one click away in the console, behind sign-in. Texts are plain GSM
characters so an SMS alert stays in one segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.alerts.planning import BACKUP, EVERYONE
from bot.db.models import AlertChannel, EscalationLevel

# The console's prefix (bot.web.console.sessions.CONSOLE_PATH), repeated so the Rasa server
# and the alert worker need not import the web app.
CONSOLE_PATH = "/console"


@dataclass(frozen=True)
class AlertFacts:
    """What an alert may say about an escalation (nothing from the participant's words)."""

    escalation_id: int
    study_id: str
    level: EscalationLevel
    ack_code: str
    created_at: datetime


def escalation_url(base_url: str, escalation_id: int) -> str:
    """The escalation's page in the staff console."""
    return f"{base_url.rstrip('/')}{CONSOLE_PATH}/escalations/{escalation_id}"


def handoff_url(base_url: str, handoff_id: int) -> str:
    """The live handoff chat in the staff console."""
    return f"{base_url.rstrip('/')}{CONSOLE_PATH}/handoffs/{handoff_id}"


def _minutes(value: timedelta) -> int:
    return max(int(value.total_seconds() // 60), 0)


def _headline(facts: AlertFacts, round_number: int, waited: timedelta) -> str:
    level = facts.level.value.upper()
    what = f"{level} alert #{facts.escalation_id}: {facts.study_id}"
    if round_number == BACKUP:
        return f"BACKUP - not acknowledged after {_minutes(waited)} min. {what}"
    if round_number == EVERYONE:
        return f"ALL STAFF - still not acknowledged after {_minutes(waited)} min. {what}"
    return what


def alert_text(
    facts: AlertFacts,
    *,
    channel: AlertChannel,
    round_number: int,
    base_url: str,
    now: datetime,
) -> str:
    """The alert for one channel and round."""
    how = (
        f"Press Acknowledge, or text ACK {facts.ack_code}."
        if channel is AlertChannel.TELEGRAM
        else f"Reply ACK {facts.ack_code} to acknowledge."
    )
    return "\n".join(
        [
            _headline(facts, round_number, now - facts.created_at),
            f"Open: {escalation_url(base_url, facts.escalation_id)}",
            how,
        ]
    )


def ack_notice_text(facts: AlertFacts, *, acknowledged_by: str, resolved: bool) -> str:
    """Tells those who got the alert that someone has it, so nobody acts twice."""
    done = "Resolved" if resolved else "Acknowledged"
    return (
        f"{done} by {acknowledged_by}: {facts.level.value.upper()} alert "
        f"#{facts.escalation_id} ({facts.study_id}). No action needed from you."
    )


def new_message_notice(*, study_id: str, url: str, telegram: bool) -> str:
    """Tells the staff member in a handoff that the participant wrote (not what they wrote)."""
    reply = "Reply to this chat to answer." if telegram else "Reply to this text to answer."
    return f"{study_id} sent a new message. Read it here: {url} {reply}"
