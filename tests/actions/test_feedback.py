"""Feedback: a 1-5 rating and a comment, stored with where the request came from."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.actions.feedback import (
    RATING_WORDS,
    ActionAskFeedbackRating,
    ActionSaveFeedback,
    ActionStartFeedback,
    ValidateFeedbackForm,
    read_rating,
)
from bot.db.models import Feedback
from tests.actions.conftest import TrackerFactory
from tests.actions.scenarios import texts

pytestmark = pytest.mark.usefixtures("database_url")


def answer(text: str, value: Any) -> dict[str, Any]:
    return {"value": value, "text": text}


@pytest.mark.parametrize(
    ("text", "rating"),
    [("1", 1), ("5", 5), ("great", 5), ("pretty good", 4), ("ok", 3), ("meh", 2), ("7", None)],
)
def test_ratings(text: str, rating: int | None) -> None:
    assert read_rating(text) == rating


async def test_a_milestone_request_is_remembered_as_the_source(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        intent="give_feedback", entities=[{"entity": "milestone", "value": "week_12"}]
    )

    events = await ActionStartFeedback().run(dispatcher, tracker, domain)

    assert SlotSet("feedback_source", "week_12") in events
    assert texts(dispatcher)


async def test_comment_no_means_no_comment(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(text="no", slots={"requested_slot": "feedback_comment"})

    extracted = await ValidateFeedbackForm().extract_feedback_comment(dispatcher, tracker, domain)

    assert extracted == {"feedback_comment": answer("no", None)}


async def test_unclear_rating_is_asked_again_once(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(text="dunno", slots={"requested_slot": "feedback_rating"})

    result = await ValidateFeedbackForm().validate_feedback_rating(
        answer("dunno", None), dispatcher, tracker, domain
    )

    assert result == {"feedback_rating": None, "reasked_slot": "feedback_rating"}
    assert "1 to 5" in texts(dispatcher)[0]


async def test_feedback_is_stored_and_thanked(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        slots={
            "feedback_rating": answer("4", 4),
            "feedback_comment": answer("visits are long", "visits are long"),
            "feedback_source": "week_12",
        }
    )

    events = await ActionSaveFeedback().run(dispatcher, tracker, domain)

    row = session.execute(select(Feedback)).scalar_one()
    assert (row.rating, row.comment, row.source) == (4, "visits are long", "week_12")
    assert "Thank you" in texts(dispatcher)[0]
    assert SlotSet("feedback_rating", None) in events


# --- Spanish ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rating"),
    [("malo", 1), ("pésimo", 1), ("regular", 2), ("más o menos", 2), ("bien", 3),
     ("muy bien", 4), ("bueno", 4), ("¡Excelente!", 5), ("cuatro", 4), ("ni idea", None)],
)  # fmt: skip
def test_ratings_in_spanish(text: str, rating: int | None) -> None:
    assert read_rating(text) == rating


def test_spanish_words_never_change_an_english_rating() -> None:
    assert all(read_rating(words) == point for words, point in RATING_WORDS.items())


async def test_the_rating_question_is_asked_in_spanish_with_spanish_choices(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    await ActionAskFeedbackRating().run(dispatcher, make_tracker(slots={"language": "es"}), domain)

    assert texts(dispatcher) == [
        "¿Qué le parece el estudio hasta ahora? 1 es malo y 5 es excelente."
    ]
    assert [(b["title"], b["payload"]) for b in dispatcher.messages[-1]["buttons"]] == [
        ("1 Malo", "1"), ("2 Regular", "2"), ("3 Bien", "3"), ("4 Muy bien", "4"),
        ("5 Excelente", "5"),
    ]  # fmt: skip


async def test_no_comment_in_spanish(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        text="nada", slots={"language": "es", "requested_slot": "feedback_comment"}
    )

    extracted = await ValidateFeedbackForm().extract_feedback_comment(dispatcher, tracker, domain)

    assert extracted == {"feedback_comment": answer("nada", None)}
