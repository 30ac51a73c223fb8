"""Reaching a person on the study team."""

from __future__ import annotations

from bot.actions.replies import StaffNotice, WordingAction
from bot.db.models import EscalationLevel, EscalationType


class ActionRequestHuman(WordingAction):
    """They asked for a person: tell staff (a handoff request) and say what happens next."""

    wording_key = "handoff_requested"
    notice = StaffNotice(
        EscalationLevel.URGENT, EscalationType.HANDOFF, "asked to talk to a person"
    )

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_request_human"
