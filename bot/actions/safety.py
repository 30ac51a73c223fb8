"""Emergencies, requests for medical advice and wishes to leave the study (safety rules 1-3)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.records import escalate
from bot.actions.replies import YES_NO, StaffNotice, WordingAction, say
from bot.db.models import EscalationLevel, EscalationType
from bot.study import current_study
from bot.wording import messages

SELF_HARM = "self_harm"


def red_flag_categories(latest_message: dict[str, Any]) -> list[str]:
    """The red-flag categories the deterministic check found in the message."""
    return [flag["category"] for flag in latest_message.get("red_flags") or []]


class ActionEmergency(Action):
    """Tells the participant to call the emergency number now, and alerts staff.

    Runs on the very message, wherever the conversation was: any form is ended first.
    """

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Say what to do now, then store the emergency escalation."""
        categories = red_flag_categories(tracker.latest_message)
        wording = "emergency_self_harm" if SELF_HARM in categories else "emergency"
        say(dispatcher, messages(current_study(), wording))
        reason = (
            "red flag: " + ", ".join(category.replace("_", " ") for category in categories)
            if categories
            else "emergency reported (recognised by the language model)"
        )
        await escalate(
            tracker, level=EscalationLevel.EMERGENCY, type=EscalationType.EMERGENCY, reason=reason
        )
        events: list[EventType] = []
        if tracker.active_loop.get("name"):
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        return events


class ActionMedicalAdvice(WordingAction):
    """Never advises; offers to pass the question to the care team (yes/no)."""

    wording_key = "medical_advice"
    buttons = YES_NO

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_medical_advice"


class ActionPassQuestionToTeam(WordingAction):
    """They accepted: store the treatment question for the care team, say who will answer."""

    wording_key = "medical_advice_passed"
    notice = StaffNotice(
        EscalationLevel.ROUTINE,
        EscalationType.QUESTION,
        "asked a question about their treatment or medicines (no advice given)",
    )

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_pass_question_to_team"


class ActionMedicalAdviceDeclined(WordingAction):
    """They said no: fine, and how to reach the nurse."""

    wording_key = "medical_advice_declined"

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_medical_advice_declined"


class ActionWithdrawInfo(WordingAction):
    """No pressure: their right to leave at any time, care not affected; offers a call."""

    wording_key = "withdraw"
    buttons = YES_NO
    notice = StaffNotice(
        EscalationLevel.ROUTINE, EscalationType.WITHDRAWAL, "said they want to leave the study"
    )

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_withdraw_info"


class ActionWithdrawCallYes(WordingAction):
    """They want a call about leaving."""

    wording_key = "withdraw_call_yes"
    notice = StaffNotice(
        EscalationLevel.ROUTINE,
        EscalationType.WITHDRAWAL,
        "wants to leave the study and asked for a call",
    )

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_withdraw_call_yes"


class ActionWithdrawCallNo(WordingAction):
    """They do not want a call now."""

    wording_key = "withdraw_call_no"

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_withdraw_call_no"
