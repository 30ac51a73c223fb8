"""Doses and visits: a missed dose, and changing a visit."""

from __future__ import annotations

from bot.actions.replies import WordingAction


class ActionMissedDose(WordingAction):
    """Gives the study's missed-dose instruction (never "take two")."""

    wording_key = "missed_dose"

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_missed_dose"


class ActionRescheduleVisit(WordingAction):
    """Tells how to move a visit: the coordinator finds a new time."""

    wording_key = "reschedule_visit"

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_reschedule_visit"
