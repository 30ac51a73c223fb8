"""Doses and visits: a missed dose, and changing a visit."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions.records import participant_id
from bot.actions.replies import WordingAction, language_of, say
from bot.db.repository import record_dose
from bot.db.session import in_session_async
from bot.study.config import current_study
from bot.study.wording import messages


class ActionMissedDose(Action):
    """Records the missed dose and gives the study's missed-dose instruction."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_missed_dose"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Store a dose report (not taken) and answer with the study's instruction."""

        def work(session: Session) -> None:
            record_dose(
                session=session,
                participant_id=participant_id(session, tracker),
                taken="no",
                source="message",
            )

        await in_session_async(work)
        say(dispatcher, messages(current_study(), "missed_dose", language=language_of(tracker)))
        return []


class ActionRescheduleVisit(WordingAction):
    """Tells how to move a visit: the coordinator finds a new time."""

    wording_key = "reschedule_visit"

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_reschedule_visit"
