"""Sending config-driven texts from actions."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.records import escalate
from bot.db.models import EscalationLevel, EscalationType
from bot.study.config import current_study
from bot.study.wording import messages

Button = dict[str, str]


def button(title: str, payload: str) -> Button:
    """A quick-reply button (shown as a numbered option over SMS)."""
    return {"title": title, "payload": payload}


YES_NO = (button("Yes", "yes"), button("No", "no"))


def say(
    dispatcher: CollectingDispatcher,
    texts: Iterable[str],
    *,
    buttons: Iterable[Button] = (),
) -> None:
    """Send each text as its own message; buttons go with the last one."""
    texts = list(texts)
    for index, text in enumerate(texts):
        last = index == len(texts) - 1
        dispatcher.utter_message(text=text, buttons=list(buttons) if last else [])


@dataclass(frozen=True)
class StaffNotice:
    """An escalation an action stores: how urgent, what about, and why (staff language)."""

    level: EscalationLevel
    type: EscalationType
    reason: str


class WordingAction(Action):
    """Sends one of the study's configurable wordings (bot.study.wording); may tell staff first."""

    wording_key: str = ""
    buttons: tuple[Button, ...] = ()
    notice: StaffNotice | None = None

    @abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Store the escalation (if any), then send the study's wording for this key."""
        if self.notice is not None:
            await escalate(
                tracker, level=self.notice.level, type=self.notice.type, reason=self.notice.reason
            )
        say(dispatcher, messages(current_study(), self.wording_key), buttons=self.buttons)
        return []


class AskAction(Action):
    """Asks a form question from the study's wording, with answer buttons."""

    slot: str = ""
    buttons: tuple[dict[str, str], ...] = ()

    def name(self) -> str:
        """action_ask_<slot>, which Rasa forms call to ask for the slot."""
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Ask the question."""
        say(dispatcher, messages(current_study(), f"ask_{self.slot}"), buttons=self.buttons)
        return []
