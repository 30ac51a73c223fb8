"""Safety rules 1-3 as the actions carry them out: emergency, no advice, leaving freely."""

from __future__ import annotations

import pytest
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.actions.handoff import ActionRequestHuman
from bot.actions.reminders import ActionMissedDose
from bot.actions.safety import (
    ActionEmergency,
    ActionEmergencyConfirmed,
    ActionEmergencyDenied,
    ActionMedicalAdvice,
    ActionMedicalAdviceDeclined,
    ActionPassQuestionToTeam,
    ActionWithdrawCallYes,
    ActionWithdrawInfo,
)
from bot.db.models import DoseReport, Escalation, EscalationLevel, EscalationType
from bot.study.config import load_study_config
from tests.actions.conftest import TrackerFactory
from tests.actions.scenarios import texts
from tests.conftest import EXAMPLE_STUDY

pytestmark = pytest.mark.usefixtures("database_url")
STUDY = load_study_config(EXAMPLE_STUDY)


def red_flag(category: str, text: str) -> list[dict[str, str]]:
    return [{"category": category, "text": text}]


async def test_emergency_says_call_now_and_stores_an_emergency(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(text="crushing chest pain", intent="emergency")
    tracker.latest_message["red_flags"] = red_flag("chest_pain", "crushing chest pain")

    events = await ActionEmergency().run(dispatcher, tracker, domain)

    assert texts(dispatcher)[0].startswith(f"Call {STUDY.emergency_number} now")
    escalation = session.execute(select(Escalation)).scalar_one()
    assert (escalation.level, escalation.type) == (
        EscalationLevel.EMERGENCY,
        EscalationType.EMERGENCY,
    )
    assert escalation.reason == "red flag: chest pain"
    assert events == []


async def test_emergency_in_the_middle_of_a_form_ends_the_form(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        text="crushing chest pain",
        intent="emergency",
        active_loop={"name": "checkin_form"},
        slots={"requested_slot": "checkin_feeling"},
    )
    tracker.latest_message["red_flags"] = red_flag("chest_pain", "crushing chest pain")

    events = await ActionEmergency().run(dispatcher, tracker, domain)

    assert events == [ActiveLoop(None), SlotSet("requested_slot", None)]
    assert STUDY.emergency_number in texts(dispatcher)[0]


async def test_self_harm_gets_the_crisis_line(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(text="i want to end it all", intent="emergency")
    tracker.latest_message["red_flags"] = red_flag("self_harm", "end it all")

    await ActionEmergency().run(dispatcher, tracker, domain)

    said = " ".join(texts(dispatcher))
    assert STUDY.crisis_line in said
    assert STUDY.emergency_number in said
    assert session.execute(select(Escalation.reason)).scalar_one() == "red flag: self harm"


async def test_the_same_message_never_gets_two_emergency_escalations(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(text="crushing chest pain", intent="emergency")
    tracker.latest_message["red_flags"] = red_flag("chest_pain", "crushing chest pain")
    tracker.latest_message["message_id"] = "m-1"

    await ActionEmergency().run(dispatcher, tracker, domain)
    await ActionEmergency().run(CollectingDispatcher(), tracker, domain)

    assert len(session.execute(select(Escalation)).scalars().all()) == 1


async def test_emergency_from_the_model_alone_gives_the_number_and_asks(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    """No listed red flag: the number at once, a question, and a routine review item only."""
    await ActionEmergency().run(dispatcher, make_tracker(intent="emergency"), domain)

    [question] = texts(dispatcher)
    assert STUDY.emergency_number in question
    assert question.endswith("Is this an emergency?")
    assert [b["payload"] for b in dispatcher.messages[-1]["buttons"]] == ["yes", "no"]
    escalation = session.execute(select(Escalation)).scalar_one()
    assert (escalation.level, escalation.type) == (EscalationLevel.ROUTINE, EscalationType.OTHER)
    assert "language model" in escalation.reason


def _user(text: str, red_flags: list[dict[str, str]] | None = None) -> dict:
    return {"event": "user", "text": text, "parse_data": {"red_flags": red_flags or []}}


async def test_yes_after_the_question_is_a_full_emergency(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        text="yes", intent="affirm", events=[_user("help me please"), _user("yes")]
    )
    tracker.latest_message["message_id"] = "m-2"

    await ActionEmergencyConfirmed().run(dispatcher, tracker, domain)

    assert texts(dispatcher)[0].startswith(f"Call {STUDY.emergency_number} now")
    escalation = session.execute(select(Escalation)).scalar_one()
    assert (escalation.level, escalation.type) == (
        EscalationLevel.EMERGENCY,
        EscalationType.EMERGENCY,
    )


async def test_yes_after_a_full_emergency_reply_stores_no_second_one(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    flagged = _user("i cant breathe", red_flag("breathing", "cant breathe"))
    tracker = make_tracker(text="yes", intent="affirm", events=[flagged, _user("yes")])

    await ActionEmergencyConfirmed().run(dispatcher, tracker, domain)

    assert STUDY.emergency_number in texts(dispatcher)[0]
    assert session.execute(select(Escalation)).first() is None


async def test_no_after_the_question_is_fine_and_gives_the_nurse(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    await ActionEmergencyDenied().run(dispatcher, make_tracker(intent="deny"), domain)

    assert STUDY.contacts.nurse.phone in texts(dispatcher)[0]
    assert session.execute(select(Escalation)).first() is None


async def test_medical_advice_is_declined_and_offered_to_the_team(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    await ActionMedicalAdvice().run(dispatcher, make_tracker(intent="medical_advice"), domain)

    assert "can't give medical advice" in texts(dispatcher)[0]
    assert [b["payload"] for b in dispatcher.messages[-1]["buttons"]] == ["yes", "no"]
    assert session.execute(select(Escalation)).first() is None  # only if they accept


async def test_accepted_question_is_stored_for_the_team(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    await ActionPassQuestionToTeam().run(dispatcher, make_tracker(intent="affirm"), domain)

    escalation = session.execute(select(Escalation)).scalar_one()
    assert (escalation.level, escalation.type) == (EscalationLevel.ROUTINE, EscalationType.QUESTION)
    assert STUDY.contacts.nurse.phone in texts(dispatcher)[0]


async def test_declined_question_stores_nothing(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    await ActionMedicalAdviceDeclined().run(dispatcher, make_tracker(intent="deny"), domain)

    assert session.execute(select(Escalation)).first() is None
    assert texts(dispatcher)


async def test_withdrawal_is_respected_and_staff_told(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    await ActionWithdrawInfo().run(dispatcher, make_tracker(intent="withdraw"), domain)

    said = " ".join(texts(dispatcher))
    assert "right to leave" in said
    assert "care" in said
    escalation = session.execute(select(Escalation)).scalar_one()
    assert (escalation.level, escalation.type) == (
        EscalationLevel.ROUTINE,
        EscalationType.WITHDRAWAL,
    )

    await ActionWithdrawCallYes().run(CollectingDispatcher(), make_tracker(intent="affirm"), domain)
    # The same request: its item is updated, not doubled (bot.escalation.records).
    session.expire_all()
    [reason] = session.execute(select(Escalation.reason)).scalars().all()
    assert reason.startswith("said they want to leave the study; again")
    assert reason.endswith(": wants to leave the study and asked for a call")


async def test_withdrawal_asked_twice_is_one_open_item(
    session: Session, make_tracker: TrackerFactory, domain: dict
) -> None:
    for _ in range(2):
        await ActionWithdrawInfo().run(
            CollectingDispatcher(), make_tracker(intent="withdraw"), domain
        )

    session.expire_all()
    escalation = session.execute(select(Escalation)).scalar_one()
    assert (escalation.type, escalation.repeat_count) == (EscalationType.WITHDRAWAL, 1)


async def test_missed_dose_is_recorded_with_the_study_instruction(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    await ActionMissedDose().run(dispatcher, make_tracker(intent="missed_dose"), domain)

    report = session.execute(select(DoseReport)).scalar_one()
    assert (report.taken, report.source) == ("no", "message")
    assert texts(dispatcher) == STUDY.wording_text("missed_dose")


async def test_request_for_a_person_is_an_urgent_handoff(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    await ActionRequestHuman().run(dispatcher, make_tracker(intent="request_human"), domain)

    escalation = session.execute(select(Escalation)).scalar_one()
    assert (escalation.level, escalation.type) == (EscalationLevel.URGENT, EscalationType.HANDOFF)


# --- Spanish ---------------------------------------------------------------------------

SPANISH = {"language": "es"}


async def test_a_spanish_emergency_mid_checkin_gets_the_spanish_reply_and_an_emergency(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        text="me duele mucho el pecho",
        intent="emergency",
        slots={**SPANISH, "requested_slot": "checkin_feeling"},
        active_loop={"name": "checkin_form"},
    )
    tracker.latest_message["red_flags"] = red_flag("chest_pain", "me duele mucho el pecho")

    events = await ActionEmergency().run(dispatcher, tracker, domain)

    assert texts(dispatcher) == STUDY.wording_text("emergency", "es")
    assert texts(dispatcher)[0].startswith(f"Llame al {STUDY.emergency_number} ahora")
    assert session.execute(select(Escalation.level)).scalar_one() is EscalationLevel.EMERGENCY
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None)]


async def test_self_harm_in_spanish_gets_the_crisis_line_with_its_spanish_option(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(text="ya no quiero vivir", intent="emergency", slots=SPANISH)
    tracker.latest_message["red_flags"] = red_flag("self_harm", "no quiero vivir")

    await ActionEmergency().run(dispatcher, tracker, domain)

    said = " ".join(texts(dispatcher))
    assert f"Llame o mande un texto al {STUDY.crisis_line}." in said
    assert "hay ayuda en español (marque 2)" in said
    assert f"llame al {STUDY.emergency_number}" in said


async def test_a_model_only_emergency_in_spanish_asks_in_spanish(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    await ActionEmergency().run(dispatcher, make_tracker(intent="emergency", slots=SPANISH), domain)

    [question] = texts(dispatcher)
    assert question.endswith("¿Es una emergencia?")
    assert [(b["title"], b["payload"]) for b in dispatcher.messages[-1]["buttons"]] == [
        ("Sí", "yes"),
        ("No", "no"),
    ]


async def test_yes_in_spanish_after_the_question_is_the_full_spanish_emergency(
    session: Session, dispatcher: CollectingDispatcher, make_tracker: TrackerFactory, domain: dict
) -> None:
    tracker = make_tracker(
        text="sí", intent="affirm", slots=SPANISH, events=[_user("ayuda"), _user("sí")]
    )

    await ActionEmergencyConfirmed().run(dispatcher, tracker, domain)

    assert texts(dispatcher)[0].startswith(f"Llame al {STUDY.emergency_number} ahora")


@pytest.mark.parametrize(
    ("action", "start"),
    [
        (ActionMedicalAdvice, "Es una buena pregunta."),
        (ActionWithdrawInfo, "Gracias por decírmelo. Usted tiene derecho a dejar el estudio"),
        (ActionMissedDose, "Gracias por decírmelo. La regla del estudio es:"),
        (ActionRequestHuman, "Bien. Le pedí a la enfermera de turno"),
    ],
)
async def test_safety_answers_in_spanish(
    action: type,
    start: str,
    session: Session,
    dispatcher: CollectingDispatcher,
    make_tracker: TrackerFactory,
    domain: dict,
) -> None:
    await action().run(dispatcher, make_tracker(slots=SPANISH), domain)

    assert texts(dispatcher)[0].startswith(start)
