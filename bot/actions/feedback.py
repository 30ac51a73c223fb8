"""Feedback: a 1-5 rating and a comment, offered by the participant or asked at a milestone."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions.answers import REASKED, Answer, read_choice, read_yes_no, words_of
from bot.actions.records import participant_id
from bot.actions.replies import ONLY_NO, AskAction, choices, language_of, say
from bot.actions.symptoms import is_interruption
from bot.db.models import Feedback
from bot.db.session import in_session_async
from bot.study.config import current_study
from bot.study.wording import messages

RATING = "feedback_rating"
COMMENT = "feedback_comment"
SOURCE = "feedback_source"
FEEDBACK_SLOTS = (RATING, COMMENT, SOURCE)
RATING_CHOICES = choices(
    ("1", "1 Poor", "1 Malo"),
    ("2", "2 Fair", "2 Regular"),
    ("3", "3 OK", "3 Bien"),
    ("4", "4 Good", "4 Muy bien"),
    ("5", "5 Great", "5 Excelente"),
)
RATING_WORDS = {
    "poor": 1, "bad": 1, "terrible": 1, "awful": 1,
    "fair": 2, "not great": 2, "meh": 2,
    "ok": 3, "okay": 3, "fine": 3, "alright": 3, "average": 3,
    "good": 4, "pretty good": 4, "nice": 4,
    "great": 5, "excellent": 5, "awesome": 5, "amazing": 5, "love it": 5, "very good": 5,
}  # fmt: skip
# Spanish, as typed (accents folded), on the same points as the Spanish buttons.
RATING_WORDS_ES = {
    "malo": 1, "mala": 1, "muy malo": 1, "muy mala": 1, "pesimo": 1, "pesima": 1, "mal": 1,
    "uno": 1,
    "regular": 2, "mas o menos": 2, "masomenos": 2, "maso": 2, "dos": 2,
    "bien": 3, "normal": 3, "esta bien": 3, "tres": 3,
    "muy bien": 4, "bueno": 4, "buena": 4, "muy bueno": 4, "muy buena": 4, "cuatro": 4,
    "excelente": 5, "genial": 5, "me encanta": 5, "super bien": 5, "de maravilla": 5,
    "perfecto": 5, "cinco": 5,
}  # fmt: skip
RATINGS = {**RATING_WORDS_ES, **RATING_WORDS}


def read_rating(text: str) -> int | None:
    """1 (poor) to 5 (great), from a number or a word, in English or Spanish."""
    words = words_of(text)
    if words in {"1", "2", "3", "4", "5"}:
        return int(words)
    return RATINGS.get(words)


def _asked(tracker: Tracker, slot: str) -> bool:
    return tracker.get_slot("requested_slot") == slot and not is_interruption(tracker)


class ValidateFeedbackForm(FormValidationAction):
    """Reads the rating and the comment."""

    def name(self) -> str:
        """The validation action's name (validate_<form>)."""
        return "validate_feedback_form"

    async def extract_feedback_rating(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A number or a word, when the rating is the question asked."""
        if not _asked(tracker, RATING):
            return {}
        return {RATING: read_choice(tracker.latest_message.get("text", ""), read_rating)}

    async def validate_feedback_rating(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Accept 1-5; ask once more with an example; then keep the words."""
        if value is None:
            return {RATING: None}
        answer = Answer.from_slot(value)
        if answer.needs_reask(tracker, RATING):
            say(
                dispatcher, messages(current_study(), "reask_rating", language=language_of(tracker))
            )
            return {RATING: None, REASKED: RATING}
        return {RATING: answer.as_slot(), REASKED: None}

    async def extract_feedback_comment(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Any words are the comment; "no" means none."""
        if not _asked(tracker, COMMENT):
            return {}
        text = tracker.latest_message.get("text", "").strip()
        return {COMMENT: Answer(None if read_yes_no(text) is False else text, text).as_slot()}

    async def validate_feedback_comment(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Any answer ends the question."""
        if value is None:
            return {COMMENT: None}
        return {COMMENT: value}


class ActionAskFeedbackRating(AskAction):
    """How they rate the study so far, 1 to 5."""

    slot = RATING
    buttons = RATING_CHOICES


class ActionAskFeedbackComment(AskAction):
    """Anything they want to tell the team."""

    slot = COMMENT
    buttons = ONLY_NO


class ActionStartFeedback(Action):
    """Opens the feedback questions; remembers whether a milestone asked for them."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_start_feedback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Clear earlier answers and note the source."""
        milestone = next(tracker.get_latest_entity_values("milestone"), None)
        say(dispatcher, messages(current_study(), "feedback_start", language=language_of(tracker)))
        return [
            SlotSet(RATING, None),
            SlotSet(COMMENT, None),
            SlotSet(SOURCE, str(milestone) if milestone else "conversation"),
            SlotSet(REASKED, None),
        ]


class ActionSaveFeedback(Action):
    """Stores the rating and comment and thanks them."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_save_feedback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Save, thank, and clear the slots."""
        rating = Answer.from_slot(tracker.get_slot(RATING))
        comment = Answer.from_slot(tracker.get_slot(COMMENT))
        free_text = rating.text if not rating.fits and rating.text else None
        notes = [text for text in (free_text, comment.value) if isinstance(text, str) and text]

        def work(session: Session) -> None:
            session.add(
                Feedback(
                    participant_id=participant_id(session, tracker),
                    rating=rating.point,
                    comment="\n".join(notes) or None,
                    source=tracker.get_slot(SOURCE) or "conversation",
                )
            )

        await in_session_async(work)
        say(dispatcher, messages(current_study(), "feedback_thanks", language=language_of(tracker)))
        return [SlotSet(slot, None) for slot in FEEDBACK_SLOTS]
