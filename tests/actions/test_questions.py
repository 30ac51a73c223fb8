"""A question typed mid-form is answered (or passed to the team), and the question asked again."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.actions.checkin import ValidateCheckinForm
from bot.actions.questions import ActionAnswerQuestionInForm, looks_like_question
from bot.actions.symptoms import ValidateSymptomForm
from bot.db.models import Escalation, EscalationLevel, EscalationType
from bot.study.config import load_study_config
from bot.study.wording import messages
from tests.actions.conftest import TrackerFactory
from tests.actions.scenarios import selected_faq, texts
from tests.conftest import EXAMPLE_STUDY

pytestmark = pytest.mark.usefixtures("database_url")

SPANISH = {"language": "es"}


def in_form(
    make_tracker: TrackerFactory,
    form: str,
    slot: str,
    text: str,
    *,
    ranking: list[dict[str, Any]] | None = None,
    slots: dict[str, Any] | None = None,
    **parsed: Any,
) -> Tracker:
    """A tracker whose form asked `slot` and whose latest message is `text`."""
    tracker = make_tracker(
        text=text,
        slots={"requested_slot": slot, **(slots or {})},
        active_loop={"name": form},
        events=[
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": text, "parse_data": {"intent": {"name": "answer"}}},
        ],
        **parsed,
    )
    if ranking is not None:
        tracker.latest_message["intent_ranking"] = ranking
    return tracker


def asked_again(filled: dict[str, Any], slot: str) -> bool:
    """True when only the slot was cleared and the form still asks for it."""
    others = {name: value for name, value in filled.items() if name != "requested_slot"}
    return others == {slot: None} and filled.get("requested_slot", slot) == slot


async def run_form(
    form: FormValidationAction, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
) -> dict[str, Any]:
    """The slots the validation action set."""
    events = await form.run(dispatcher, tracker, domain)
    return {event["name"]: event["value"] for event in events if event["event"] == "slot"}


@pytest.mark.parametrize(
    ("slot", "text", "intent", "topic", "slots", "language"),
    [
        ("checkin_feeling", "what is a placebo again?", "feeling_well", "placebo", {}, "en"),
        ("checkin_medicine", "how much do i get paid per visit", "missed_dose", "compensation",
         {}, "en"),
        ("checkin_new_problem", "cuando es mi proxima cita", "answer", "visit_schedule",
         SPANISH, "es"),
        ("checkin_feeling", "¿Puedo dejar el estudio cuando quiera?", "answer",
         "rights_withdraw", SPANISH, "es"),
    ],
)  # fmt: skip
async def test_a_study_question_mid_checkin_is_answered_and_the_slot_left_empty(
    session: Session,
    dispatcher: CollectingDispatcher,
    make_tracker: TrackerFactory,
    domain: dict,
    slot: str,
    text: str,
    intent: str,
    topic: str,
    slots: dict[str, Any],
    language: str,
) -> None:
    tracker = in_form(
        make_tracker,
        "checkin_form",
        slot,
        text,
        slots=slots,
        intent=intent,
        confidence=0.6,
        response_selector=selected_faq(topic, 0.8),
    )

    filled = await run_form(ValidateCheckinForm(), dispatcher, tracker, domain)

    expected = load_study_config(EXAMPLE_STUDY).faq_answer(topic, language=language)
    assert texts(dispatcher) == list(expected)
    assert asked_again(filled, slot)  # nothing stored; the form asks its question again
    assert session.execute(select(Escalation)).scalars().all() == []


MEDICAL_QUESTIONS = [
    # Read as a symptom report; a symptom named in a question makes it a health question.
    (ValidateCheckinForm, "checkin_new_problem",
     "my grandson has a bad cough, could i catch it from him?", {},
     {"intent": "report_symptom", "response_selector": selected_faq("risks", 0.7),
      "entities": [{"entity": "SYMPTOM", "value": "cough"}]}),
    # No question mark, but the model's second guess is medical_advice.
    (ValidateSymptomForm, "symptom_frequency", "debo dejar las pastillas por esto",
     {**SPANISH, "current_symptom": "nausea"},
     {"intent": "report_symptom", "confidence": 0.5,
      "ranking": [{"name": "report_symptom", "confidence": 0.5},
                  {"name": "medical_advice", "confidence": 0.45}],
      "response_selector": selected_faq("other_medications", 0.6)}),
]  # fmt: skip


@pytest.mark.parametrize(("form", "slot", "text", "slots", "parsed"), MEDICAL_QUESTIONS)
async def test_a_health_question_mid_form_gets_no_advice_and_goes_to_the_team(
    session: Session,
    dispatcher: CollectingDispatcher,
    make_tracker: TrackerFactory,
    domain: dict,
    form: type[FormValidationAction],
    slot: str,
    text: str,
    slots: dict[str, Any],
    parsed: dict[str, Any],
) -> None:
    tracker = in_form(make_tracker, "checkin_form", slot, text, slots=slots, **parsed)

    filled = await run_form(form(), dispatcher, tracker, domain)

    study = load_study_config(EXAMPLE_STUDY)
    language = slots.get("language", "en")
    assert texts(dispatcher) == list(messages(study, "medical_question_in_form", language=language))
    assert asked_again(filled, slot)  # and no symptom interview started
    escalation = session.execute(select(Escalation)).scalar_one()
    assert escalation.level is EscalationLevel.ROUTINE
    assert escalation.type is EscalationType.QUESTION


@pytest.mark.parametrize(
    ("form", "slot", "text", "language"),
    [
        ("checkin_form", "checkin_new_problem", "is it ok to take tylenol with the study pills",
         "en"),
        ("symptom_form", "symptom_frequency", "debo dejar el medicamento del estudio", "es"),
        ("feedback_form", "feedback_rating", "can i double my dose tonight", "en"),
    ],
)  # fmt: skip
async def test_a_question_the_model_reads_as_medical_mid_form_is_passed_on_and_asked_again(
    session: Session,
    dispatcher: CollectingDispatcher,
    make_tracker: TrackerFactory,
    domain: dict,
    form: str,
    slot: str,
    text: str,
    language: str,
) -> None:
    """The rule for medical_advice mid-form runs this action and then the form, so the
    form stays active and asks its question again (tests/test_conversations.yml)."""
    tracker = in_form(
        make_tracker, form, slot, text, slots={"language": language},
        intent="medical_advice", confidence=0.93,
        response_selector=selected_faq("other_medications", 0.6),
    )  # fmt: skip

    events = await ActionAnswerQuestionInForm().run(dispatcher, tracker, domain)

    study = load_study_config(EXAMPLE_STUDY)
    assert texts(dispatcher) == list(messages(study, "medical_question_in_form", language=language))
    assert events == []  # no slot filled, the loop untouched: the form asks again
    escalation = session.execute(select(Escalation)).scalar_one()
    assert (escalation.level, escalation.type) == (EscalationLevel.ROUTINE, EscalationType.QUESTION)


# An answer, parsed as one; the ResponseSelector always names some topic.
ANSWERED: dict[str, Any] = {"intent": "answer", "response_selector": selected_faq("placebo", 0.9)}


@pytest.mark.parametrize(
    ("slot", "text", "value"),
    [
        ("symptom_severity", "mild?", 1),
        ("symptom_severity", "severe", 3),
        ("checkin_feeling", "3?", 3),
        ("checkin_feeling", "pretty good", 4),
        ("checkin_new_problem", "no?", False),
        ("checkin_medicine", "missed some?", "some"),
    ],
)
async def test_an_answer_with_a_question_mark_is_still_the_answer(
    dispatcher: CollectingDispatcher,
    make_tracker: TrackerFactory,
    domain: dict,
    slot: str,
    text: str,
    value: Any,
) -> None:
    form = ValidateSymptomForm() if slot.startswith("symptom_") else ValidateCheckinForm()
    nausea = {"current_symptom": "nausea"}
    tracker = in_form(make_tracker, "checkin_form", slot, text, slots=nausea, **ANSWERED)

    filled = await run_form(form, dispatcher, tracker, domain)

    assert filled[slot] == {"value": value, "text": text}
    assert texts(dispatcher) == []


async def test_si_with_a_question_mark_answers_anything_new_in_spanish(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = in_form(
        make_tracker, "checkin_form", "checkin_new_problem", "sí?", slots=SPANISH, intent="affirm"
    )

    filled = await run_form(ValidateCheckinForm(), dispatcher, tracker, domain)

    assert filled["checkin_new_problem"] == {"value": True, "text": "sí?"}


@pytest.mark.parametrize(
    ("text", "question"),
    [("what is a placebo", True), ("¿cuándo es la cita", True), ("Is it bad?", True),
     ("por qué me hacen análisis", True), ("pretty bad", False), ("como siempre", False),
     ("did take it", False), ("mild", False)],
)  # fmt: skip
def test_questions_by_their_words(text: str, question: bool) -> None:
    assert looks_like_question(text) is question
