"""Emergencies, requests for medical advice and wishes to leave the study (safety rules 1-3)."""

from __future__ import annotations

from bot.actions.replies import YES_NO, WordingAction


class ActionEmergency(WordingAction):
    """Tells the participant to call the emergency number now."""

    wording_key = "emergency"

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_emergency"


class ActionMedicalAdvice(WordingAction):
    """Never advises; offers to pass the question to the care team."""

    wording_key = "medical_advice"
    buttons = YES_NO

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_medical_advice"


class ActionWithdrawInfo(WordingAction):
    """No pressure: confirms the right to leave at any time and offers a call."""

    wording_key = "withdraw"
    buttons = YES_NO

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_withdraw_info"
