"""Emergencies, requests for medical advice and wishes to leave the study (safety rules 1-3)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from bot.actions.records import escalate, participant_id
from bot.actions.replies import YES_NO, StaffNotice, WordingAction, buttons_in, language_of, say
from bot.core.retry import with_retries
from bot.db.models import EscalationLevel, EscalationType
from bot.db.session import session_scope
from bot.escalation.records import latest_inbound_message_id
from bot.safety.emergency import emergency_texts, record_emergency
from bot.study.config import current_study
from bot.study.wording import messages

POSSIBLE_EMERGENCY_REASON = (
    "possible emergency: the language model read an emergency but no listed red flag was "
    "found; the participant was given the emergency number and asked"
)
CONFIRMED_REASON = "said yes when asked if it is an emergency"
# A treatment question passed to the care team (no advice given).
QUESTION_FOR_TEAM = StaffNotice(
    EscalationLevel.ROUTINE,
    EscalationType.QUESTION,
    "asked a question about their treatment or medicines (no advice given)",
)


def red_flag_categories(latest_message: dict[str, Any]) -> list[str]:
    """The red-flag categories the deterministic check found in the message."""
    return [flag["category"] for flag in latest_message.get("red_flags") or []]


async def store_emergency(
    tracker: Tracker, categories: list[str], reason: str | None = None
) -> None:
    """The emergency escalation of the message being handled (once per message)."""
    trigger = tracker.latest_message.get("message_id")

    def work(session: Session) -> None:
        record_emergency(
            session=session,
            participant_id=participant_id(session, tracker),
            categories=categories,
            trigger_message_id=str(trigger) if trigger else None,
            message_log_id=latest_inbound_message_id(session=session, sender_id=tracker.sender_id),
            reason=reason,
        )

    await asyncio.to_thread(
        with_retries, lambda: _in_new_session(work), OperationalError, IntegrityError
    )


def _in_new_session(work: Callable[[Session], None]) -> None:
    with session_scope() as session:
        work(session)


def _end_form(tracker: Tracker) -> list[EventType]:
    """Events that end the active form, if any."""
    if tracker.active_loop.get("name"):
        return [ActiveLoop(None), SlotSet("requested_slot", None)]
    return []


class ActionEmergency(Action):
    """Tells the participant to call the emergency number now, and alerts staff.

    Runs on the very message, wherever the conversation was: any form is ended first. A
    red flag (the deterministic check) gets the full emergency reply and an emergency
    escalation. A message only the language model read as an emergency gets the emergency
    number and a question ("Is this an emergency?"), and a routine review item: a calm
    "im dying to see my grandkids" neither pages staff nor is told to call 911 outright.
    """

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Say what to do now, then store the escalation."""
        categories = red_flag_categories(tracker.latest_message)
        study, language = current_study(), language_of(tracker)
        if categories:
            say(dispatcher, emergency_texts(study, categories, language))
            await store_emergency(tracker, categories)
        else:
            say(
                dispatcher,
                messages(study, "emergency_check", language=language),
                buttons=buttons_in(YES_NO, language),
            )
            await escalate(
                tracker,
                level=EscalationLevel.ROUTINE,
                type=EscalationType.OTHER,
                reason=POSSIBLE_EMERGENCY_REASON,
            )
        return _end_form(tracker)


def _asked_if_emergency(tracker: Tracker) -> bool:
    """True when the assistant's last emergency answer was the question, not the full reply."""
    users = [event for event in tracker.events if event.get("event") == "user"]
    if len(users) < 2:
        return False
    return not (users[-2].get("parse_data") or {}).get("red_flags")


class ActionEmergencyConfirmed(Action):
    """They said yes after an emergency answer: the full emergency reply (and escalation)."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_emergency_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Say it again; store the emergency unless the red flag already did."""
        say(dispatcher, emergency_texts(current_study(), [], language_of(tracker)))
        if _asked_if_emergency(tracker):
            await store_emergency(tracker, [], reason=CONFIRMED_REASON)
        return []


class ActionEmergencyDenied(WordingAction):
    """They said no: glad, and how to reach the nurse."""

    wording_key = "emergency_check_no"

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_emergency_denied"


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
    notice = QUESTION_FOR_TEAM

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
