"""Reaching a person on the study team."""

from __future__ import annotations

from bot.actions.replies import WordingAction


class ActionContactPerson(WordingAction):
    """Gives the coordinator's and the nurse line's contact details from the study config."""

    wording_key = "contact_person"

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_contact_person"
