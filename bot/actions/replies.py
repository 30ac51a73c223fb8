"""Sending config-driven texts from actions, in the conversation's language."""

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
from bot.core.languages import LANGUAGE_SLOT, language_or_default
from bot.db.models import EscalationLevel, EscalationType
from bot.study.choices import (  # noqa: F401 (the actions' vocabulary, kept here)
    NO_BUTTONS,
    ONLY_NO,
    YES_NO,
    Button,
    Choices,
    button,
    buttons_in,
    choices,
)
from bot.study.config import current_study
from bot.study.wording import messages


def language_of(tracker: Tracker) -> str:
    """The conversation's language (the `language` slot): "en" or "es", "en" when unset."""
    return language_or_default(tracker.get_slot(LANGUAGE_SLOT))


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


async def tell_staff(tracker: Tracker, notice: StaffNotice) -> None:
    """Store an escalation for the message being handled."""
    await escalate(tracker, level=notice.level, type=notice.type, reason=notice.reason)


class WordingAction(Action):
    """Sends one of the study's configurable wordings (bot.study.wording); may tell staff first."""

    wording_key: str = ""
    buttons: Choices = NO_BUTTONS
    notice: StaffNotice | None = None

    @abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Store the escalation (if any), then send the study's wording for this key."""
        if self.notice is not None:
            await tell_staff(tracker, self.notice)
        language = language_of(tracker)
        say(
            dispatcher,
            messages(current_study(), self.wording_key, language=language),
            buttons=buttons_in(self.buttons, language),
        )
        return []


class AskAction(Action):
    """Asks a form question from the study's wording, with answer buttons."""

    slot: str = ""
    buttons: Choices = NO_BUTTONS

    def name(self) -> str:
        """action_ask_<slot>, which Rasa forms call to ask for the slot."""
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Ask the question in the conversation's language."""
        language = language_of(tracker)
        say(
            dispatcher,
            messages(current_study(), f"ask_{self.slot}", language=language),
            buttons=buttons_in(self.buttons, language),
        )
        return []
