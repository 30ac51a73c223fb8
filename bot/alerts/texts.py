"""What staff alerts say: the study ID, level, type, a staff-language reason and a link.

Never the participant's name, phone number or words (product safety rule 5): an
escalation's `reason` is staff language by contract (bot.escalation.records), and nothing else
about the participant but their study ID is put in. Texts are plain GSM characters so
an SMS alert stays in one or two segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.alerts.planning import BACKUP, EVERYONE
from bot.db.models import AlertChannel, EscalationLevel, EscalationType

MAX_REASON_CHARACTERS = 140
# The console's prefix (bot.web.console.sessions.CONSOLE_PATH), repeated so the Rasa server
# and the alert worker need not import the web app.
CONSOLE_PATH = "/console"


@dataclass(frozen=True)
class AlertFacts:
    """What an alert may say about an escalation (nothing from the participant's words)."""

    escalation_id: int
    study_name: str
    study_id: str
    level: EscalationLevel
    type: EscalationType
    reason: str
    ack_code: str
    created_at: datetime


def escalation_url(base_url: str, escalation_id: int) -> str:
    """The escalation's page in the staff console."""
    return f"{base_url.rstrip('/')}{CONSOLE_PATH}/escalations/{escalation_id}"


def handoff_url(base_url: str, handoff_id: int) -> str:
    """The live handoff chat in the staff console."""
    return f"{base_url.rstrip('/')}{CONSOLE_PATH}/handoffs/{handoff_id}"


def _reason(reason: str) -> str:
    text = " ".join(reason.split())
    if len(text) <= MAX_REASON_CHARACTERS:
        return text
    return text[: MAX_REASON_CHARACTERS - 3].rstrip() + "..."


def _minutes(value: timedelta) -> int:
    return max(int(value.total_seconds() // 60), 0)


def _headline(facts: AlertFacts, round_number: int, waited: timedelta) -> str:
    level = facts.level.value.upper()
    what = f"{level} alert #{facts.escalation_id}: {facts.study_id}, {facts.type.value}"
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
            f"[{facts.study_name}] {_headline(facts, round_number, now - facts.created_at)}",
            f"Reason: {_reason(facts.reason)}",
            f"Open: {escalation_url(base_url, facts.escalation_id)}",
            how,
        ]
    )


def ack_notice_text(facts: AlertFacts, *, acknowledged_by: str, resolved: bool) -> str:
    """Tells those who got the alert that someone has it, so nobody acts twice."""
    done = "Resolved" if resolved else "Acknowledged"
    return (
        f"[{facts.study_name}] {done} by {acknowledged_by}: {facts.level.value.upper()} alert "
        f"#{facts.escalation_id} ({facts.study_id}). No action needed from you."
    )


def new_message_notice(*, study_name: str, study_id: str, url: str, telegram: bool) -> str:
    """Tells the staff member in a handoff that the participant wrote (not what they wrote)."""
    reply = "Reply to this chat to answer." if telegram else "Reply to this text to answer."
    return f"[{study_name}] {study_id} sent a new message. Read it here: {url} {reply}"
