"""Sending config-driven texts from actions, in the conversation's language."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.records import escalate
from bot.core.languages import ENGLISH, LANGUAGE_SLOT, SPANISH, language_or_default
from bot.db.models import EscalationLevel, EscalationType
from bot.study.config import current_study
from bot.study.wording import messages

Button = dict[str, str]
# The same buttons in each language, by language code.
Choices = Mapping[str, tuple[Button, ...]]


def language_of(tracker: Tracker) -> str:
    """The conversation's language (the `language` slot): "en" or "es", "en" when unset."""
    return language_or_default(tracker.get_slot(LANGUAGE_SLOT))


def button(title: str, payload: str) -> Button:
    """A quick-reply button (shown as a numbered option over SMS)."""
    return {"title": title, "payload": payload}


def choices(*options: tuple[str, str, str]) -> Choices:
    """Buttons in each language from (payload, English title, Spanish title) for each one.

    The payload is the same in every language, so a tap reads the same whatever the language.
    """
    return {
        ENGLISH: tuple(button(english, payload) for payload, english, _ in options),
        SPANISH: tuple(button(spanish, payload) for payload, _, spanish in options),
    }


def buttons_in(options: Choices, language: str) -> tuple[Button, ...]:
    """The buttons in a language (English when that language has none)."""
    if language in options:
        return options[language]
    return options.get(ENGLISH, ())


NO_BUTTONS = choices()
YES_NO = choices(("yes", "Yes", "Sí"), ("no", "No", "No"))
ONLY_NO = choices(("no", "No", "No"))


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
