"""Questions about the trial, answered from the study config, and re-explained more simply."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.replies import language_of, say
from bot.core.languages import DEFAULT_LANGUAGE
from bot.study.config import FAQ_TOPICS, StudyConfig, current_study
from bot.study.wording import messages

RETRIEVAL_INTENT = "faq"
LAST_ANSWER = "last_answer"


def faq_topic(latest_message: dict[str, Any]) -> str | None:
    """The FAQ topic of a parsed message: the ResponseSelector's pick, or a `faq/<topic>` intent."""
    selector = latest_message.get("response_selector") or {}
    prediction = selector.get(RETRIEVAL_INTENT) or selector.get("default") or {}
    key = (prediction.get("response") or {}).get("intent_response_key") or ""
    if not key:
        key = (latest_message.get("intent") or {}).get("name") or ""
    prefix = f"{RETRIEVAL_INTENT}/"
    return key[len(prefix) :] if key.startswith(prefix) else None


def answer_faq(
    dispatcher: CollectingDispatcher,
    study: StudyConfig,
    topic: str | None,
    *,
    simpler: bool = False,
    language: str = DEFAULT_LANGUAGE,
) -> None:
    """Send the study's answer in a language; without one, a general answer and a contact.

    The general answer is the domain's `utter_faq/<topic>`, whose variation Rasa picks by
    the conversation's `language` slot.
    """
    answer = (
        study.faq_answer(topic, simpler=simpler, language=language) if topic in FAQ_TOPICS else None
    )
    if answer:
        say(dispatcher, answer)
        return
    if topic in FAQ_TOPICS:
        dispatcher.utter_message(response=f"utter_{RETRIEVAL_INTENT}/{topic}")
    say(dispatcher, messages(study, "faq_missing", language=language))


class ActionAnswerFaq(Action):
    """Answers a `faq/<topic>` question with the study config's text."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Send the answer and remember it for ask_simpler."""
        topic = faq_topic(tracker.latest_message)
        answer_faq(dispatcher, current_study(), topic, language=language_of(tracker))
        return [SlotSet(LAST_ANSWER, f"{RETRIEVAL_INTENT}/{topic}" if topic else None)]


class ActionExplainSimpler(Action):
    """Says the last answer again in simpler words (the `ask_simpler` intent)."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_explain_simpler"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Re-explain the remembered answer, or offer example questions."""
        study, language = current_study(), language_of(tracker)
        last = tracker.get_slot(LAST_ANSWER) or ""
        prefix = f"{RETRIEVAL_INTENT}/"
        if last.startswith(prefix):
            answer_faq(dispatcher, study, last[len(prefix) :], simpler=True, language=language)
        else:
            say(dispatcher, messages(study, "simpler_unknown", language=language))
        return []
