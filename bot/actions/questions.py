"""A question typed in the middle of a form: answered (or passed to the team), not stored.

The language model may miss a question asked mid-form ("my grandson is coughing, is
that bad for me?" reads like a symptom report). A message that does not fit the form's
question and is a question by its words (a "?", a question word) or by the model's second
guess gets an FAQ answer from the study config, or the no-medical-advice reply with the
question passed to the care team. The slot stays empty, so the form asks its question again.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.answers import words_of
from bot.actions.faq import RETRIEVAL_INTENT, answer_faq, faq_topic
from bot.actions.replies import language_of, say, tell_staff
from bot.actions.safety import QUESTION_FOR_TEAM
from bot.study.config import FAQ_TOPICS, current_study
from bot.study.wording import messages

MEDICAL = "medical_advice"
QUESTION_INTENTS = frozenset({RETRIEVAL_INTENT, MEDICAL})
# The model's confidence in a question intent that makes a non-answer a question.
QUESTION_CONFIDENCE = 0.4
# The FAQ answer is given only when the ResponseSelector is this sure of the topic.
TOPIC_CONFIDENCE = 0.5
# Words that open a question, as `words_of` gives them ("¿Cuándo?" -> "cuando"). Words
# that also open everyday answers ("do", "did", "que", "como") are left out.
QUESTION_OPENERS = (
    "what", "whats", "when", "where", "why", "how", "who", "which", "is", "are", "am",
    "can", "could", "should", "shall", "will", "would", "may", "does",
    "cuando", "donde", "por que", "cual", "cuales", "quien", "cuanto", "cuanta", "cuantos",
    "cuantas", "puedo", "debo", "tengo que",
)  # fmt: skip
# Words that, in a question, point to a treatment or health question.
ENTITIES_OF_CARE = frozenset({"SYMPTOM", "MEDICATION", "BODY_PART"})


def _confidence(latest_message: dict[str, Any], intent: str) -> float:
    """The model's confidence in an intent ("faq/placebo" counts as faq)."""
    ranking = latest_message.get("intent_ranking") or [latest_message.get("intent") or {}]
    return max(
        (
            float(entry.get("confidence") or 0.0)
            for entry in ranking
            if str(entry.get("name") or "").split("/")[0] == intent
        ),
        default=0.0,
    )


def looks_like_question(text: str) -> bool:
    """True when the words are a question: a "?" or a question word first (English, Spanish)."""
    if text.strip().endswith("?") or text.strip().startswith("¿"):
        return True
    words = f"{words_of(text)} "
    return any(words.startswith(f"{opener} ") for opener in QUESTION_OPENERS)


def is_question(latest_message: dict[str, Any]) -> bool:
    """True when the message is a question (by its words or by the language model)."""
    if looks_like_question(str(latest_message.get("text") or "")):
        return True
    return any(
        _confidence(latest_message, intent) >= QUESTION_CONFIDENCE for intent in QUESTION_INTENTS
    )


def _faq_topic_if_sure(latest_message: dict[str, Any]) -> str | None:
    """The FAQ topic when the message reads as a study question, not a treatment one."""
    topic = faq_topic(latest_message)
    if topic not in FAQ_TOPICS:
        return None
    if _confidence(latest_message, MEDICAL) > _confidence(latest_message, RETRIEVAL_INTENT):
        return None
    if _confidence(latest_message, RETRIEVAL_INTENT) >= QUESTION_CONFIDENCE:
        return topic
    entities = {entity.get("entity") for entity in latest_message.get("entities") or []}
    selector = (latest_message.get("response_selector") or {}).get(RETRIEVAL_INTENT) or {}
    sure = float((selector.get("response") or {}).get("confidence") or 0.0) >= TOPIC_CONFIDENCE
    return topic if sure and not entities & ENTITIES_OF_CARE else None


async def answer_question(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Answer a mid-form question from the study config, or pass it to the care team."""
    study, language = current_study(), language_of(tracker)
    topic = _faq_topic_if_sure(tracker.latest_message)
    if topic is not None:
        answer_faq(dispatcher, study, topic, language=language)
        return
    await tell_staff(tracker, QUESTION_FOR_TEAM)
    say(dispatcher, messages(study, "medical_question_in_form", language=language))


async def asked_instead(
    slot: str, fits: bool, dispatcher: CollectingDispatcher, tracker: Tracker
) -> dict[str, Any] | None:
    """For a question asked instead of an answer: answer it and leave the slot empty.

    None when the message is an answer (one that fits is an answer even with a "?").
    """
    if fits or not is_question(tracker.latest_message):
        return None
    await answer_question(dispatcher, tracker)
    return {slot: None}


class ActionAnswerQuestionInForm(Action):
    """A question the model read as a question (faq or medical_advice) in the middle of a
    form: answered or passed to the team; the rules then run the form, which asks its
    question again (Rasa does not validate a form run after another action)."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_answer_question_in_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Answer from the study config, or pass the question to the care team."""
        await answer_question(dispatcher, tracker)
        return []
