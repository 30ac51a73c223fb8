"""The check-in: answers read in words, numbers or buttons; pause and resume; what is stored."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.actions.checkin import (
    FEELING_WORDS,
    ActionAskCheckinFeeling,
    ActionAskCheckinMedicine,
    ActionFinishCheckin,
    ActionPauseCheckin,
    ActionStartCheckin,
    ValidateCheckinForm,
    read_feeling,
    read_medicine,
)
from bot.db.models import (
    Checkin,
    CheckinStatus,
    DoseReport,
    Escalation,
    EscalationLevel,
    EscalationType,
)
from tests.actions.conftest import TrackerFactory
from tests.actions.scenarios import texts

pytestmark = pytest.mark.usefixtures("database_url")


def answer(text: str, value: Any) -> dict[str, Any]:
    return {"value": value, "text": text}


def slot_values(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {event["name"]: event["value"] for event in events if event["event"] == "slot"}


@pytest.mark.parametrize(
    ("text", "point"),
    [("1", 1), ("5", 5), ("good", 4), ("im good", 4), ("pretty good", 4), ("meh", 2),
     ("Great!", 5), ("ok", 3), ("terrible", 1), ("banana", None), ("6", None)],
)  # fmt: skip
def test_feeling_answers(text: str, point: int | None) -> None:
    assert read_feeling(text) == point


@pytest.mark.parametrize(
    ("text", "value"),
    [("yes", "yes"), ("yep", "yes"), ("no", "no"), ("missed some", "some"), ("some", "some"),
     ("mostly", "some"), ("maybe", None), ("forgot", "no"), ("i forgot to take it", "no"),
     ("Missed it", "no"), ("didnt take them", "no")],
)  # fmt: skip
def test_medicine_answers(text: str, value: str | None) -> None:
    assert read_medicine(text) == value


async def test_start_opens_a_checkin(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    events = await ActionStartCheckin().run(
        dispatcher, make_tracker(intent="start_checkin"), domain
    )

    checkin = session.execute(select(Checkin)).scalar_one()
    assert checkin.status is CheckinStatus.IN_PROGRESS
    assert slot_values(events)["checkin_id"] == float(checkin.id)
    assert slot_values(events)["checkin_feeling"] is None
    assert "about a minute" in texts(dispatcher)[0]


async def test_a_paused_checkin_is_picked_up_where_it_stopped(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    started = await ActionStartCheckin().run(CollectingDispatcher(), make_tracker(), domain)
    checkin_id = slot_values(started)["checkin_id"]
    paused = make_tracker(
        slots={"checkin_id": checkin_id, "checkin_feeling": answer("4", 4)},
        active_loop={"name": "checkin_form"},
    )
    pause_events = await ActionPauseCheckin().run(CollectingDispatcher(), paused, domain)
    assert ActiveLoop(None) in pause_events
    assert session.execute(select(Checkin.status)).scalar_one() is CheckinStatus.PAUSED

    resumed = await ActionStartCheckin().run(dispatcher, paused, domain)

    assert "checkin_feeling" not in slot_values(resumed)  # the answer so far is kept
    assert "Welcome back" in texts(dispatcher)[0]
    session.expire_all()
    assert session.execute(select(Checkin.status)).scalar_one() is CheckinStatus.IN_PROGRESS


async def test_required_slots_include_the_interview_only_after_yes(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    form = ValidateCheckinForm()
    no = make_tracker(slots={"checkin_new_problem": answer("no", False)})
    yes = make_tracker(
        slots={"checkin_new_problem": answer("yes", True), "current_symptom": "cough"}
    )

    assert await form.required_slots([], dispatcher, no, domain) == [
        "checkin_feeling",
        "checkin_new_problem",
        "checkin_medicine",
        "checkin_question",
    ]
    assert await form.required_slots([], dispatcher, yes, domain) == [
        "checkin_feeling",
        "checkin_new_problem",
        "symptom_severity",
        "symptom_interference",
        "checkin_medicine",
        "checkin_question",
    ]


async def test_naming_a_symptom_answers_anything_new(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    form = ValidateCheckinForm()
    tracker = make_tracker(
        text="my back hurts and i feel sick",
        intent="report_symptom",
        slots={"requested_slot": "checkin_new_problem"},
        entities=[
            {"entity": "SYMPTOM", "value": "pain"},
            {"entity": "SYMPTOM", "value": "nausea"},
        ],
    )

    extracted = await form.extract_checkin_new_problem(dispatcher, tracker, domain)
    updates = await form.validate_checkin_new_problem(
        extracted["checkin_new_problem"], dispatcher, tracker, domain
    )

    assert updates["checkin_new_problem"]["value"] is True
    assert updates["current_symptom"] == "pain"
    assert updates["symptom_queue"] == ["nausea"]


async def test_numbered_choice_and_words_both_work(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    form = ValidateCheckinForm()
    for text, point in (("4", 4), ("pretty good", 4)):
        tracker = make_tracker(text=text, slots={"requested_slot": "checkin_feeling"})
        extracted = await form.extract_checkin_feeling(dispatcher, tracker, domain)
        assert extracted == {"checkin_feeling": answer(text, point)}


async def test_unclear_feeling_is_reasked_with_an_example_then_kept_as_free_text(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    form = ValidateCheckinForm()
    first = make_tracker(text="eh", slots={"requested_slot": "checkin_feeling"})
    reasked = await form.validate_checkin_feeling(answer("eh", None), dispatcher, first, domain)
    assert reasked == {"checkin_feeling": None, "reasked_slot": "checkin_feeling"}
    assert "like 4" in texts(dispatcher)[0]

    second = make_tracker(
        text="tired but ok i guess",
        slots={"requested_slot": "checkin_feeling", "reasked_slot": "checkin_feeling"},
    )
    later = CollectingDispatcher()
    kept = await form.validate_checkin_feeling(
        answer("tired but ok i guess", None), later, second, domain
    )
    assert kept["checkin_feeling"] == answer("tired but ok i guess", None)
    assert "pass your words on" in texts(later)[0]


async def test_a_bare_yes_to_the_question_asks_for_the_question(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    form = ValidateCheckinForm()
    tracker = make_tracker(text="yes", slots={"requested_slot": "checkin_question"})
    extracted = await form.extract_checkin_question(dispatcher, tracker, domain)

    updates = await form.validate_checkin_question(
        extracted["checkin_question"], dispatcher, tracker, domain
    )

    assert updates == {"checkin_question": None}
    assert "type your question" in texts(dispatcher)[0]


async def test_finishing_stores_everything_and_flags_the_question(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    started = await ActionStartCheckin().run(CollectingDispatcher(), make_tracker(), domain)
    tracker = make_tracker(
        slots={
            "checkin_id": slot_values(started)["checkin_id"],
            "checkin_feeling": answer("good", 4),
            "checkin_new_problem": answer("no", False),
            "checkin_medicine": answer("missed some", "some"),
            "checkin_question": answer("when is my next visit", "when is my next visit"),
        }
    )

    events = await ActionFinishCheckin().run(dispatcher, tracker, domain)

    checkin = session.execute(select(Checkin)).scalar_one()
    assert checkin.status is CheckinStatus.COMPLETED
    assert (checkin.overall_feeling, checkin.new_problem, checkin.took_medicine) == (
        4,
        False,
        "some",
    )
    assert checkin.question == "when is my next visit"
    assert checkin.completed_at is not None
    assert session.execute(select(DoseReport.taken)).scalar_one() == "some"
    escalations = session.execute(select(Escalation)).scalars().all()
    assert {(e.level, e.type) for e in escalations} == {
        (EscalationLevel.ROUTINE, EscalationType.QUESTION),
        (EscalationLevel.ROUTINE, EscalationType.OTHER),
    }
    assert all("when is my next visit" not in e.reason for e in escalations)  # no words in alerts
    assert texts(dispatcher)[-1].startswith("Thank you! Your check-in is done.")
    assert SlotSet("checkin_id", None) in events


def _after_start(text: str, **slots: Any) -> list[dict[str, Any]]:
    """Events as Rasa sends them: a user message, then action_start_checkin clearing slots."""
    return [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": {"intent": {"name": "start_checkin"}}},
        {"event": "action", "name": "action_start_checkin"},
        *[{"event": "slot", "name": name, "value": value} for name, value in slots.items()],
    ]


async def test_form_run_after_start_asks_nothing_and_fills_nothing(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    cleared = dict.fromkeys(
        ["checkin_feeling", "checkin_new_problem", "checkin_medicine", "checkin_question"]
    )
    tracker = make_tracker(
        text="i want to do my check in",
        intent="start_checkin",
        events=_after_start("i want to do my check in", **cleared),
        slots={**cleared, "requested_slot": None},
        active_loop={"name": "checkin_form"},
    )

    events = await ValidateCheckinForm().run(dispatcher, tracker, domain)

    assert dispatcher.messages == []
    filled = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert all(filled.get(name) is None for name in cleared)


async def test_form_run_reads_the_requested_answer(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        text="4",
        intent="answer",
        events=[
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": "4", "parse_data": {"intent": {"name": "answer"}}},
        ],
        slots={"requested_slot": "checkin_feeling"},
        active_loop={"name": "checkin_form"},
    )

    events = await ValidateCheckinForm().run(dispatcher, tracker, domain)

    filled = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert filled["checkin_feeling"] == answer("4", 4)


# --- Spanish ---------------------------------------------------------------------------

SPANISH = {"language": "es"}


@pytest.mark.parametrize(
    ("text", "point"),
    [("muy mal", 1), ("fatal", 1), ("mal", 2), ("no muy bien", 2), ("regular", 3),
     ("masomenos", 3), ("más o menos", 3), ("ahí la llevo", 3), ("bien", 4),
     ("estoy bien", 4), ("bien, gracias", 4), ("me siento muy bien", 5), ("¡Excelente!", 5),
     ("tres", 3), ("cinco", 5), ("quién sabe", None)],
)  # fmt: skip
def test_feeling_answers_in_spanish(text: str, point: int | None) -> None:
    assert read_feeling(text) == point


@pytest.mark.parametrize(
    ("text", "value"),
    [("sí", "yes"), ("si", "yes"), ("simón", "yes"), ("claro", "yes"), ("ajá", "yes"),
     ("todas", "yes"), ("no", "no"), ("nel", "no"), ("nop", "no"), ("se me olvidó", "no"),
     ("no la tomé", "no"), ("algunas", "some"), ("me faltaron algunas", "some"),
     ("no todas", "some"), ("más o menos", "some"), ("quién sabe", None)],
)  # fmt: skip
def test_medicine_answers_in_spanish(text: str, value: str | None) -> None:
    assert read_medicine(text) == value


def test_spanish_words_never_change_an_english_feeling() -> None:
    assert all(read_feeling(words) == point for words, point in FEELING_WORDS.items())


async def test_a_spanish_checkin_starts_and_asks_in_spanish(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(intent="start_checkin", slots=SPANISH)

    await ActionStartCheckin().run(dispatcher, tracker, domain)
    await ActionAskCheckinFeeling().run(dispatcher, tracker, domain)

    assert texts(dispatcher) == [
        'Vamos a hacer su chequeo. Toma como un minuto. Puede escribir "luego" en cualquier '
        "momento para parar y terminar más tarde.",
        "En general, ¿cómo se siente hoy?",
    ]
    buttons = dispatcher.messages[-1]["buttons"]
    assert [b["title"] for b in buttons] == [
        "1 Muy mal", "2 Mal", "3 Regular", "4 Bien", "5 Muy bien",
    ]  # fmt: skip
    assert [b["payload"] for b in buttons] == ["1", "2", "3", "4", "5"]


async def test_spanish_medicine_question_has_spanish_choices(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    await ActionAskCheckinMedicine().run(dispatcher, make_tracker(slots=SPANISH), domain)

    assert texts(dispatcher) == ["¿Tomó su medicina del estudio como le dijeron?"]
    assert [(b["title"], b["payload"]) for b in dispatcher.messages[-1]["buttons"]] == [
        ("Sí", "yes"),
        ("Me faltaron algunas", "some"),
        ("No", "no"),
    ]


async def test_spanish_answers_fill_the_checkin_and_reasks_are_spanish(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    form = ValidateCheckinForm()
    feeling = make_tracker(text="masomenos", slots={**SPANISH, "requested_slot": "checkin_feeling"})
    nothing_new = make_tracker(
        text="nel", slots={**SPANISH, "requested_slot": "checkin_new_problem"}
    )

    assert await form.extract_checkin_feeling(dispatcher, feeling, domain) == {
        "checkin_feeling": answer("masomenos", 3)
    }
    assert (await form.extract_checkin_new_problem(dispatcher, nothing_new, domain))[
        "checkin_new_problem"
    ] == answer("nel", False)

    unclear = make_tracker(text="pues", slots={**SPANISH, "requested_slot": "checkin_feeling"})
    await form.validate_checkin_feeling(answer("pues", None), dispatcher, unclear, domain)
    assert texts(dispatcher) == [
        "Perdón, no le entendí. Por favor, responda con un número del 1 al 5, como 4."
    ]


async def test_a_spanish_checkin_ends_in_spanish(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    started = await ActionStartCheckin().run(CollectingDispatcher(), make_tracker(), domain)
    tracker = make_tracker(
        slots={
            **SPANISH,
            "checkin_id": slot_values(started)["checkin_id"],
            "checkin_feeling": answer("bien", 4),
            "checkin_new_problem": answer("no", False),
            "checkin_medicine": answer("sí", "yes"),
            "checkin_question": answer("no", False),
        }
    )

    await ActionFinishCheckin().run(dispatcher, tracker, domain)

    assert texts(dispatcher) == ["¡Gracias! Ya terminó su chequeo. Cuídese mucho, y hasta pronto."]
    checkin = session.execute(select(Checkin)).scalar_one()
    assert (checkin.overall_feeling, checkin.took_medicine) == (4, "yes")
