"""The symptom interview: extraction, grading, storage, alert rules, and what is said."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.actions.symptoms import (
    ActionAskSymptomFrequency,
    ActionAskSymptomInterference,
    ActionFinishSymptomReport,
    ActionStartSymptomReport,
    AskSymptomQuestion,
    ValidateSymptomForm,
    attributes_of,
    interview_slots,
    symptom_label,
    symptoms_in_message,
)
from bot.db.models import (
    Channel,
    Escalation,
    EscalationLevel,
    EscalationStatus,
    EscalationType,
    SymptomReport,
)
from bot.db.repository import enroll_participant, record_symptom, start_checkin
from bot.db.types import utcnow
from bot.nlp.symptoms import symptom_names
from bot.study.config import load_study_config
from bot.study.plain_language import check_text
from bot.study.pro_ctcae import Attribute
from bot.study.wording import messages
from bot.study.wording_es import SYMPTOM_LABELS_ES
from tests.actions.conftest import TrackerFactory
from tests.actions.scenarios import texts
from tests.conftest import EXAMPLE_STUDY

pytestmark = pytest.mark.usefixtures("database_url")


def symptom_entities(*names: str) -> list[dict[str, Any]]:
    """SYMPTOM entities as the NLU pipeline gives them (canonical values)."""
    return [{"entity": "SYMPTOM", "value": name, "start": 0, "end": 1} for name in names]


def answer(text: str, value: Any) -> dict[str, Any]:
    return {"value": value, "text": text}


async def test_start_queues_every_symptom_named(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        text="i threw up 3 times and my head is killing me",
        intent="report_symptom",
        entities=symptom_entities("vomiting", "headache"),
    )

    events = await ActionStartSymptomReport().run(dispatcher, tracker, domain)

    slots = {event["name"]: event["value"] for event in events}
    assert slots["current_symptom"] == "vomiting"
    assert slots["symptom_queue"] == ["headache"]
    assert slots["symptoms_done"] is False


async def test_feeling_bad_with_no_symptom_named_gets_a_kind_word_and_the_nurse(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(text="i feel like death", intent="report_symptom")

    events = await ActionStartSymptomReport().run(dispatcher, tracker, domain)

    [kind_word] = texts(dispatcher)
    assert kind_word.startswith("I am sorry you are not feeling well.")
    assert "nurse" in kind_word
    assert {event["name"]: event["value"] for event in events}["current_symptom"] is None


async def test_a_named_symptom_goes_straight_to_its_questions(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        text="my cough is bad", intent="report_symptom", entities=symptom_entities("cough")
    )

    await ActionStartSymptomReport().run(dispatcher, tracker, domain)

    assert texts(dispatcher) == []


def test_only_known_symptoms_count_once() -> None:
    message = {
        "entities": [
            *symptom_entities("nausea", "nausea"),
            {"entity": "BODY_PART", "value": "head"},
        ]
    }
    assert symptoms_in_message(message) == ["nausea"]


def test_attributes_follow_the_pro_ctcae_items() -> None:
    assert attributes_of("headache") == (
        Attribute.FREQUENCY,
        Attribute.SEVERITY,
        Attribute.INTERFERENCE,
    )
    assert attributes_of("diarrhea") == (Attribute.FREQUENCY,)
    assert attributes_of("other") == (Attribute.SEVERITY,)


def test_interview_asks_what_it_is_when_nothing_was_named(make_tracker: TrackerFactory) -> None:
    assert interview_slots(make_tracker(slots={"current_symptom": None})) == ["symptom_description"]
    assert interview_slots(make_tracker(slots={"current_symptom": "headache"})) == [
        "symptom_frequency",
        "symptom_severity",
        "symptom_interference",
    ]
    assert interview_slots(make_tracker(slots={"symptoms_done": True})) == []


async def test_severity_words_are_read_when_severity_is_asked(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(text="pretty bad", slots={"requested_slot": "symptom_severity"})

    extracted = await ValidateSymptomForm().extract_symptom_severity(dispatcher, tracker, domain)

    assert extracted == {"symptom_severity": answer("pretty bad", 3)}


async def test_an_emergency_is_never_taken_as_an_answer(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        text="crushing chest pain",
        intent="emergency",
        slots={"requested_slot": "symptom_severity"},
    )

    assert await ValidateSymptomForm().extract_symptom_severity(dispatcher, tracker, domain) == {}


async def test_an_answer_that_does_not_fit_is_asked_again_once_then_kept(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    form = ValidateSymptomForm()
    first = make_tracker(slots={"current_symptom": "nausea", "requested_slot": "symptom_severity"})

    again = await form.validate_symptom_severity(answer("dunno", None), dispatcher, first, domain)

    assert again == {"symptom_severity": None, "reasked_slot": "symptom_severity"}
    assert "number from 0 to 4" in texts(dispatcher)[0]

    second = make_tracker(
        slots={
            "current_symptom": "nausea",
            "requested_slot": "symptom_severity",
            "reasked_slot": "symptom_severity",
            "symptom_frequency": answer("often", 3),
        }
    )
    later = CollectingDispatcher()
    kept = await form.validate_symptom_severity(answer("like a wave", None), later, second, domain)

    assert kept["symptom_severity"] == answer("like a wave", None)
    assert kept["symptoms_done"] is True
    # An answer that did not fit the scale goes to staff to read.
    assert "noted it for the care team" in texts(later)[0]


async def test_severe_symptom_is_stored_and_urgent(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        text="4",
        slots={
            "current_symptom": "vomiting",
            "symptom_queue": ["headache"],
            "requested_slot": "symptom_severity",
            "symptom_frequency": answer("3 times", 2),
            "symptom_description": "i threw up 3 times",
        },
    )

    updates = await ValidateSymptomForm().validate_symptom_severity(
        answer("4", 4), dispatcher, tracker, domain
    )

    report = session.execute(select(SymptomReport)).scalar_one()
    assert (report.symptom, report.frequency, report.severity, report.grade) == (
        "vomiting",
        2,
        4,
        4,
    )
    assert "i threw up 3 times" in report.raw_answer
    escalation = session.execute(select(Escalation)).scalar_one()
    assert escalation.level is EscalationLevel.URGENT
    assert escalation.type is EscalationType.SYMPTOM
    assert "vomiting" in escalation.reason
    assert escalation.concern == "vomiting"  # a repeat of it updates this item
    assert "A nurse will call you today" in texts(dispatcher)[0]
    # On to the next symptom, with its answers cleared.
    assert updates["current_symptom"] == "headache"
    assert updates["symptom_queue"] == []
    assert updates["symptom_frequency"] is None


async def test_worse_by_two_points_since_last_report_is_urgent(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    participant = enroll_participant(session=session, study_id="P-009", channel=Channel.WEB)
    record_symptom(
        session=session,
        participant_id=participant.id,
        symptom="fatigue",
        grade=0,
        raw_answer="none",
    )
    session.commit()
    tracker = make_tracker(
        sender_id="P-009",
        slots={
            "current_symptom": "fatigue",
            "requested_slot": "symptom_interference",
            "symptom_severity": answer("moderate", 2),
        },
    )

    await ValidateSymptomForm().validate_symptom_interference(
        answer("a little", 1), dispatcher, tracker, domain
    )

    escalation = session.execute(select(Escalation)).scalar_one()
    assert escalation.level is EscalationLevel.URGENT
    assert "worse by 2" in escalation.reason


async def test_mild_symptom_is_stored_without_alert(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        slots={"current_symptom": "dry_mouth", "requested_slot": "symptom_severity"},
    )

    updates = await ValidateSymptomForm().validate_symptom_severity(
        answer("mild", 1), dispatcher, tracker, domain
    )

    assert session.execute(select(SymptomReport.grade)).scalar_one() == 1
    assert session.execute(select(Escalation)).first() is None
    assert updates["symptoms_done"] is True
    assert texts(dispatcher) == [
        "Thanks for telling me. I have noted it. Tell me if it gets worse."
    ]


async def test_never_skips_the_rest_of_the_symptom(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        slots={"current_symptom": "headache", "requested_slot": "symptom_frequency"}
    )

    updates = await ValidateSymptomForm().validate_symptom_frequency(
        answer("never", 0), dispatcher, tracker, domain
    )

    assert updates["symptoms_done"] is True
    assert session.execute(select(SymptomReport.grade)).scalar_one() == 0


def test_start_events_are_slot_events() -> None:
    from bot.actions.symptoms import start_events

    assert SlotSet("current_symptom", "cough") in start_events(["cough"])


# --- Spanish ---------------------------------------------------------------------------


def test_every_symptom_of_the_lexicon_has_a_spanish_label() -> None:
    missing = sorted(set(symptom_names()) - set(SYMPTOM_LABELS_ES))
    assert not missing, f"symptoms with no Spanish label (bot/study/wording_es.py): {missing}"
    assert set(SYMPTOM_LABELS_ES) <= set(symptom_names())


@pytest.mark.parametrize("symptom", sorted(SYMPTOM_LABELS_ES))
def test_every_spanish_symptom_question_is_short_and_plain(symptom: str) -> None:
    study = load_study_config(EXAMPLE_STUDY)
    for attribute in Attribute:
        key = f"ask_symptom_{attribute.value}"
        for text in messages(study, key, "es", symptom=symptom_label(symptom, "es")):
            result = check_text(text, "es")
            assert result.ok, f"{key} with {symptom}: {result.problem()}: {text!r}"


def test_spanish_labels_name_the_symptom_or_this_problem() -> None:
    assert symptom_label("cough", "es") == "la tos"
    assert symptom_label("other", "es") == "este problema"
    assert symptom_label(None, "es") == "este problema"
    assert symptom_label("cough") == "cough"


@pytest.mark.parametrize(
    ("action", "question", "titles"),
    [
        (
            ActionAskSymptomFrequency,
            "Sobre la tos: en los últimos 7 días, ¿con qué frecuencia le pasó?",
            ["0 Nunca", "1 Rara vez", "2 Algunas veces", "3 Frecuentemente", "4 Casi siempre"],
        ),
        (
            AskSymptomQuestion,
            "Sobre la tos: en su peor momento, ¿qué tan fuerte fue?",
            ["0 Nada", "1 Leve", "2 Moderado", "3 Severo", "4 Muy severo"],
        ),
        (
            ActionAskSymptomInterference,
            "Sobre la tos: ¿cuánto le estorbó en sus cosas del día?",
            ["0 Nada", "1 Un poco", "2 Algo", "3 Bastante", "4 Muchísimo"],
        ),
    ],
)
async def test_symptom_questions_in_spanish_use_pro_ctcae_spanish_choices(
    action: type[AskSymptomQuestion],
    question: str,
    titles: list[str],
    dispatcher: CollectingDispatcher,
    make_tracker: TrackerFactory,
    domain: dict,
) -> None:
    tracker = make_tracker(slots={"language": "es", "current_symptom": "cough"})

    await action().run(dispatcher, tracker, domain)

    assert texts(dispatcher) == [question]
    buttons = dispatcher.messages[-1]["buttons"]
    assert [b["title"] for b in buttons] == titles
    assert [b["payload"] for b in buttons] == ["0", "1", "2", "3", "4"]


async def test_spanish_severity_words_are_read_and_reasks_are_spanish(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    form = ValidateSymptomForm()
    tracker = make_tracker(
        text="bien feo", slots={"language": "es", "requested_slot": "symptom_severity"}
    )
    assert await form.extract_symptom_severity(dispatcher, tracker, domain) == {
        "symptom_severity": answer("bien feo", 3)
    }

    unclear = make_tracker(
        slots={"language": "es", "current_symptom": "nausea", "requested_slot": "symptom_severity"}
    )
    await form.validate_symptom_severity(answer("quién sabe", None), dispatcher, unclear, domain)
    assert texts(dispatcher) == [
        "Perdón, no le entendí. Por favor, responda con un número del 0 al 4, como 1."
    ]


async def test_a_severe_symptom_in_spanish_is_urgent_and_told_in_spanish(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        text="muy fuerte",
        slots={
            "language": "es",
            "current_symptom": "headache",
            "requested_slot": "symptom_interference",
            "symptom_frequency": answer("casi siempre", 4),
            "symptom_severity": answer("muy fuerte", 3),
        },
    )

    await ValidateSymptomForm().validate_symptom_interference(
        answer("bastante", 3), dispatcher, tracker, domain
    )

    assert texts(dispatcher)[0].startswith("Gracias por decírmelo. Le estoy mandando esto")
    assert session.execute(select(Escalation.level)).scalar_one() is EscalationLevel.URGENT


def open_checkin(session: Session, sender_id: str) -> float:
    """A participant with a check-in under way; the checkin_id slot's value."""
    participant = enroll_participant(session=session, study_id=sender_id, channel=Channel.WEB)
    checkin = start_checkin(session=session, participant_id=participant.id)
    session.commit()
    return float(checkin.id)


async def tell_cough(
    dispatcher: CollectingDispatcher,
    make_tracker: TrackerFactory,
    domain: dict,
    checkin_id: float,
    severity: int,
) -> dict[str, Any]:
    """Finish a cough (severity, then interference) in the check-in; the slot updates."""
    tracker = make_tracker(
        sender_id="P-020",
        slots={
            "checkin_id": checkin_id,
            "current_symptom": "cough",
            "requested_slot": "symptom_interference",
            "symptom_severity": answer(str(severity), severity),
        },
    )
    return await ValidateSymptomForm().validate_symptom_interference(
        answer("a little", 1), dispatcher, tracker, domain
    )


async def test_a_cough_told_twice_in_one_checkin_is_one_report_and_one_alert(
    session: Session, make_tracker: TrackerFactory, domain: dict
) -> None:
    checkin_id = open_checkin(session, "P-020")
    first, again = CollectingDispatcher(), CollectingDispatcher()

    await tell_cough(first, make_tracker, domain, checkin_id, severity=4)
    await tell_cough(again, make_tracker, domain, checkin_id, severity=4)

    report = session.execute(select(SymptomReport)).scalar_one()
    assert (report.symptom, report.grade, report.checkin_id) == ("cough", 4, checkin_id)
    escalation = session.execute(select(Escalation)).scalar_one()
    assert escalation.repeat_count == 0
    assert texts(again) == [
        "I already have your cough from this check-in. Thank you for telling me. "
        "Tell me if it gets worse."
    ]


async def test_a_severe_symptom_told_again_a_day_later_in_an_unfinished_checkin_alerts_again(
    session: Session, make_tracker: TrackerFactory, domain: dict
) -> None:
    """A check-in paused and never finished keeps its ID in the conversation: a report
    told a day later is a new one, and its alert rules run again."""
    checkin_id = open_checkin(session, "P-020")
    await tell_cough(CollectingDispatcher(), make_tracker, domain, checkin_id, severity=4)
    first = session.execute(select(SymptomReport)).scalar_one()
    first.reported_at = utcnow() - timedelta(days=1)
    session.execute(update(Escalation).values(status=EscalationStatus.RESOLVED))
    session.commit()

    later = CollectingDispatcher()
    await tell_cough(later, make_tracker, domain, checkin_id, severity=4)

    session.expire_all()
    assert len(session.execute(select(SymptomReport)).scalars().all()) == 2
    levels = session.execute(select(Escalation.level)).scalars().all()
    assert levels == [EscalationLevel.URGENT, EscalationLevel.URGENT]
    assert "A nurse will call you today" in texts(later)[0]


async def test_a_higher_grade_in_the_same_checkin_regrades_the_report_and_escalates(
    session: Session, make_tracker: TrackerFactory, domain: dict
) -> None:
    checkin_id = open_checkin(session, "P-020")

    await tell_cough(CollectingDispatcher(), make_tracker, domain, checkin_id, severity=1)
    worse = CollectingDispatcher()
    await tell_cough(worse, make_tracker, domain, checkin_id, severity=4)

    report = session.execute(select(SymptomReport)).scalar_one()
    assert (report.grade, report.severity) == (4, 4)
    escalation = session.execute(select(Escalation)).scalar_one()
    assert escalation.level is EscalationLevel.URGENT
    assert "A nurse will call you today" in texts(worse)[0]


@pytest.mark.parametrize(
    ("text", "named", "expected"),
    [
        ("nothing, the cough i told you", ("cough",), "I already have your cough"),
        ("same as before", (), "I already have your cough"),
        ("lo mismo de antes", (), "Ya tengo anotado lo de la tos"),
        ("ya te dije, la tos", ("cough",), "Ya tengo anotado lo de la tos"),
    ],
)
async def test_words_pointing_back_after_a_resume_add_no_report(
    session: Session,
    dispatcher: CollectingDispatcher,
    make_tracker: TrackerFactory,
    domain: dict,
    text: str,
    named: tuple[str, ...],
    expected: str,
) -> None:
    checkin_id = open_checkin(session, "P-020")
    await tell_cough(CollectingDispatcher(), make_tracker, domain, checkin_id, severity=4)
    spanish = expected.startswith("Ya")
    tracker = make_tracker(
        sender_id="P-020",
        text=text,
        entities=symptom_entities(*named),
        slots={
            "checkin_id": checkin_id,
            "requested_slot": "symptom_description",
            "language": "es" if spanish else "en",
        },
    )

    updates = await ValidateSymptomForm().validate_symptom_description(
        text, dispatcher, tracker, domain
    )

    assert updates == {"symptom_description": text, "symptoms_done": True}
    assert texts(dispatcher)[0].startswith(expected)
    assert len(session.execute(select(SymptomReport)).scalars().all()) == 1
    assert len(session.execute(select(Escalation)).scalars().all()) == 1


async def test_words_pointing_back_with_a_new_symptom_ask_about_the_new_one(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    checkin_id = open_checkin(session, "P-020")
    await tell_cough(CollectingDispatcher(), make_tracker, domain, checkin_id, severity=4)
    text = "the cough i told you and now a headache"
    tracker = make_tracker(
        sender_id="P-020",
        text=text,
        entities=symptom_entities("cough", "headache"),
        slots={"checkin_id": checkin_id, "requested_slot": "symptom_description"},
    )

    updates = await ValidateSymptomForm().validate_symptom_description(
        text, dispatcher, tracker, domain
    )

    assert updates["current_symptom"] == "headache"
    assert updates["symptom_queue"] == []


async def test_a_report_during_a_paused_checkin_keeps_it_and_its_answered_question(
    dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    slots = {"checkin_id": 7.0}
    tracker = make_tracker(intent="report_symptom", entities=symptom_entities("cough"), slots=slots)

    started = await ActionStartSymptomReport().run(dispatcher, tracker, domain)
    finished = await ActionFinishSymptomReport().run(dispatcher, make_tracker(slots=slots), domain)

    assert "checkin_id" not in {event["name"] for event in started}
    assert SlotSet("symptoms_done", True) in finished
    assert interview_slots(make_tracker(slots={**slots, "symptoms_done": True})) == []
