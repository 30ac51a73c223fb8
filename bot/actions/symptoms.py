"""Symptoms the participant reports."""

from __future__ import annotations

from bot.actions.replies import WordingAction


class ActionSymptomContact(WordingAction):
    """Points a reported symptom to the study nurse."""

    wording_key = "symptom_contact"

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_symptom_contact"
