"""Symptom reports: which symptoms, how often, how bad, how much in the way (PRO-CTCAE).

The same interview runs on its own (`report_symptom` -> symptom_form) and inside the
check-in (checkin_form). Symptoms come from the message through the project's spaCy
pipeline (the SYMPTOM entities, already mapped to canonical names and with negated
mentions removed). Each finished symptom is stored, checked against the study's alert
rules, and the participant is told what happens next.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions.answers import Answer, read_choice, words_of
from bot.actions.questions import asked_instead
from bot.actions.records import participant_id
from bot.actions.replies import Button, button, language_of, say
from bot.core.languages import ENGLISH, SPANISH
from bot.db.models import EscalationLevel, EscalationType
from bot.db.repository import (
    checkin_symptom_reports,
    previous_symptom_grade,
    record_symptom,
    regrade_symptom,
)
from bot.db.session import in_session_async
from bot.db.types import utcnow
from bot.escalation.records import latest_inbound_message_id, raise_escalation
from bot.escalation.rules import decide
from bot.nlp.symptoms import symptom_info, symptom_names
from bot.study.config import current_study
from bot.study.pro_ctcae import SCALES, Attribute, label, read_answer
from bot.study.wording import messages
from bot.study.wording_es import OTHER_SYMPTOM_LABEL_ES, SYMPTOM_LABELS_ES

logger = logging.getLogger(__name__)

QUEUE = "symptom_queue"
CURRENT = "current_symptom"
DESCRIPTION = "symptom_description"
DONE = "symptoms_done"
CHECKIN_ID = "checkin_id"
ATTRIBUTE_ORDER = (Attribute.FREQUENCY, Attribute.SEVERITY, Attribute.INTERFERENCE)
OTHER = "other"
OTHER_LABEL = "this problem"


def attribute_slot(attribute: Attribute) -> str:
    """The slot holding one attribute of the current symptom, e.g. symptom_severity."""
    return f"symptom_{attribute.value}"


ATTRIBUTE_SLOTS = tuple(attribute_slot(attribute) for attribute in ATTRIBUTE_ORDER)


def symptoms_in_message(latest_message: dict[str, Any]) -> list[str]:
    """Canonical symptom names the pipeline found in the message, in order, once each."""
    known = set(symptom_names())
    found: list[str] = []
    for entity in latest_message.get("entities") or []:
        value = entity.get("value")
        if entity.get("entity") == "SYMPTOM" and value in known and value not in found:
            found.append(value)
    return found


def attributes_of(symptom: str) -> tuple[Attribute, ...]:
    """The PRO-CTCAE attributes to ask for a symptom, in the item library's order."""
    if symptom == OTHER:
        return (Attribute.SEVERITY,)
    asked = set(symptom_info(symptom).attributes)
    return tuple(attribute for attribute in ATTRIBUTE_ORDER if attribute.value in asked)


def symptom_label(symptom: str | None, language: str = ENGLISH) -> str:
    """How to name the symptom to the participant, in their language."""
    if language == SPANISH:
        return SYMPTOM_LABELS_ES.get(symptom or OTHER, OTHER_SYMPTOM_LABEL_ES)
    if not symptom or symptom == OTHER:
        return OTHER_LABEL
    return symptom_info(symptom).label


def scale_buttons(attribute: Attribute, language: str = ENGLISH) -> tuple[Button, ...]:
    """0-4 answer buttons with the scale's words ("0 None" ... "4 Very severe", "0 Nada" ...)."""
    return tuple(
        button(f"{point} {label(attribute, point, language).capitalize()}", str(point))
        for point in range(len(SCALES[attribute].labels))
    )


def start_events(symptoms: list[str]) -> list[EventType]:
    """Slot events that start an interview of these symptoms (none yet: ask what it is)."""
    current, queue = (symptoms[0], symptoms[1:]) if symptoms else (None, [])
    return [
        SlotSet(QUEUE, queue),
        SlotSet(CURRENT, current),
        SlotSet(DESCRIPTION, None),
        SlotSet(DONE, False),
        *[SlotSet(slot, None) for slot in ATTRIBUTE_SLOTS],
    ]


def interview_slots(tracker: Tracker) -> list[str]:
    """The slots still to ask for the symptom interview (empty when it is done)."""
    if tracker.get_slot(DONE):
        return []
    current = tracker.get_slot(CURRENT)
    if not current:
        return [DESCRIPTION]
    return [attribute_slot(attribute) for attribute in attributes_of(current)]


GRADING_ORDER = (Attribute.SEVERITY, Attribute.FREQUENCY, Attribute.INTERFERENCE)


def _graded_by(answers: dict[Attribute, Answer]) -> Attribute:
    """The attribute the alert grade comes from: severity, else frequency, else interference."""
    return next((a for a in GRADING_ORDER if a in answers), Attribute.SEVERITY)


def _grade(answers: dict[Attribute, Answer]) -> int | None:
    """The alert grade (see `_graded_by`); None if an answer did not fit its scale."""
    if not all(answer.fits for answer in answers.values()):
        return None
    attribute = _graded_by(answers)
    return answers[attribute].point if attribute in answers else None


OUTCOME_WORDING = {
    EscalationLevel.URGENT: "symptom_urgent",
    EscalationLevel.ROUTINE: "symptom_routine",
    None: "symptom_noted",
}
# A symptom told again in the same check-in, no worse than before.
ALREADY_NOTED = "symptom_already_noted"


def _store_and_decide(
    session: Session,
    tracker: Tracker,
    symptom: str,
    answers: dict[Attribute, Answer],
    raw_answers: list[str],
) -> str:
    """Store a graded symptom, raise what the study's rules call for; the wording key to say.

    A symptom already reported in this check-in is one report: told again at a higher
    grade, that report is regraded and the rules run on the new grade (the earlier one is
    the previous grade); told again at the same or a lower grade (or an answer that did
    not fit the scale), the report stays as it was, nothing is raised, and the participant
    hears that it is already noted.
    """
    study = current_study()
    owner = participant_id(session, tracker)
    grade = _grade(answers)
    checkin_id = _checkin_id(tracker)
    earlier = (
        checkin_symptom_reports(
            session=session, participant_id=owner, checkin_id=checkin_id, since=_same_checkin()
        ).get(symptom)
        if checkin_id is not None
        else None
    )
    points = {
        "severity": _point(answers, Attribute.SEVERITY),
        "frequency": _point(answers, Attribute.FREQUENCY),
        "interference": _point(answers, Attribute.INTERFERENCE),
    }
    raw_answer = " | ".join(raw_answers)
    previous = previous_symptom_grade(session=session, participant_id=owner, symptom=symptom)
    if earlier is not None:
        if grade is None or (earlier.grade is not None and grade <= earlier.grade):
            return ALREADY_NOTED
        previous = earlier.grade
        regrade_symptom(report=earlier, grade=grade, raw_answer=raw_answer, **points)
    else:
        record_symptom(
            session=session,
            participant_id=owner,
            symptom=symptom,
            grade=grade,
            raw_answer=raw_answer,
            checkin_id=checkin_id,
            **points,
        )
    decision = decide(
        symptom=symptom,
        grade=grade,
        previous_grade=previous,
        rules=study.escalation,
        graded_by=_graded_by(answers),
    )
    if decision.level is not None:
        trigger = tracker.latest_message.get("message_id")
        raise_escalation(
            session=session,
            participant_id=owner,
            level=decision.level,
            type=EscalationType.SYMPTOM,
            reason=decision.reason,
            message_log_id=latest_inbound_message_id(session=session, sender_id=tracker.sender_id),
            trigger_message_id=str(trigger) if trigger else None,
            concern=symptom,
        )
    return OUTCOME_WORDING[decision.level]


# A report counts as told "in this check-in" for this long: a check-in paused and never
# finished keeps its ID in the conversation, and a report days later is a new one (its
# alert rules run again: a severe symptom told again tomorrow pages staff again).
SAME_CHECKIN = timedelta(hours=12)


def _same_checkin() -> datetime:
    """The earliest time a report still belongs to the running check-in."""
    return utcnow() - SAME_CHECKIN


def _checkin_id(tracker: Tracker) -> int | None:
    """The check-in this conversation is in (running or paused), if any."""
    checkin_id = tracker.get_slot(CHECKIN_ID)
    return int(checkin_id) if checkin_id else None


def _point(answers: dict[Attribute, Answer], attribute: Attribute) -> int | None:
    answer = answers.get(attribute)
    return answer.point if answer else None


# Words that point back to something told before ("the cough i told you", "lo mismo de
# antes"), as `words_of` gives them; matched as whole words.
POINTS_BACK = (
    "i told you", "told you", "i said", "like i said", "already said", "already told",
    "same as before", "same as earlier", "same thing", "same one", "the same",
    "ya te dije", "ya le dije", "te dije", "le dije", "como te dije", "como le dije",
    "lo mismo", "lo de antes", "ya lo dije", "ya te conte", "ya le conte",
)  # fmt: skip


def points_back(text: str) -> bool:
    """True when the words point back to a report told before, not a new one."""
    words = f" {words_of(text)} "
    return any(f" {phrase} " in words for phrase in POINTS_BACK)


async def _reported_in_checkin(tracker: Tracker) -> list[str]:
    """The symptoms already stored in this conversation's check-in, oldest first."""
    checkin_id = _checkin_id(tracker)
    if checkin_id is None:
        return []

    def work(session: Session) -> list[str]:
        owner = participant_id(session, tracker)
        return list(
            checkin_symptom_reports(
                session=session, participant_id=owner, checkin_id=checkin_id, since=_same_checkin()
            )
        )

    return await in_session_async(work)


class SymptomInterview:
    """Extraction and validation of the symptom slots, shared by both forms."""

    async def extract_symptom_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Take the description (and the symptoms in it) when it is the slot being asked."""
        if tracker.get_slot("requested_slot") != DESCRIPTION or is_interruption(tracker):
            return {}
        return {DESCRIPTION: tracker.latest_message.get("text", "")}

    async def validate_symptom_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Queue the symptoms named; with none recognised, grade the problem as told."""
        if value is None:
            return {DESCRIPTION: None}
        symptoms = symptoms_in_message(tracker.latest_message)
        if points_back(str(value)):
            reported = await _reported_in_checkin(tracker)
            symptoms = [symptom for symptom in symptoms if symptom not in reported]
            if reported and not symptoms:  # all of it told before in this check-in
                named = symptoms_in_message(tracker.latest_message) or reported[-1:]
                language = language_of(tracker)
                say(
                    dispatcher,
                    messages(
                        current_study(),
                        ALREADY_NOTED,
                        language=language,
                        symptom=symptom_label(named[0], language),
                    ),
                )
                return {DESCRIPTION: value, DONE: True}
        symptoms = symptoms or [OTHER]
        return {DESCRIPTION: value, CURRENT: symptoms[0], QUEUE: symptoms[1:]}

    async def _extract_attribute(self, tracker: Tracker, attribute: Attribute) -> dict[str, Any]:
        slot = attribute_slot(attribute)
        if tracker.get_slot("requested_slot") != slot or is_interruption(tracker):
            return {}
        text = tracker.latest_message.get("text", "")
        return {slot: read_choice(text, lambda answer: read_answer(attribute, answer))}

    async def extract_symptom_frequency(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Read "how often" on the 0-4 frequency scale."""
        return await self._extract_attribute(tracker, Attribute.FREQUENCY)

    async def extract_symptom_severity(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Read "how bad" on the 0-4 severity scale."""
        return await self._extract_attribute(tracker, Attribute.SEVERITY)

    async def extract_symptom_interference(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Read "how much in the way" on the 0-4 interference scale."""
        return await self._extract_attribute(tracker, Attribute.INTERFERENCE)

    async def _validate_attribute(
        self,
        attribute: Attribute,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
    ) -> dict[str, Any]:
        slot = attribute_slot(attribute)
        if value is None:  # cleared by an action, not answered
            return {slot: None}
        answer = Answer.from_slot(value)
        if (asked := await asked_instead(slot, answer.fits, dispatcher, tracker)) is not None:
            return asked
        if answer.needs_reask(tracker, slot):
            say(dispatcher, messages(current_study(), "reask_scale", language=language_of(tracker)))
            return {slot: None, "reasked_slot": slot}
        updates: dict[str, Any] = {slot: answer.as_slot(), "reasked_slot": None}
        symptom = tracker.get_slot(CURRENT)
        if answer.point == 0 and attribute is not Attribute.INTERFERENCE:
            # "never" / "none": nothing more to ask about this symptom.
            for later in attributes_of(symptom)[attributes_of(symptom).index(attribute) + 1 :]:
                updates[attribute_slot(later)] = Answer(0, "").as_slot()
        if all(
            updates.get(attribute_slot(a)) or tracker.get_slot(attribute_slot(a))
            for a in attributes_of(symptom)
        ):
            updates.update(await self._finish_symptom(dispatcher, tracker, symptom, updates))
        return updates

    async def _finish_symptom(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        symptom: str,
        updates: dict[str, Any],
    ) -> dict[str, Any]:
        """Store the finished symptom, say what happens next, and move to the next one."""
        answers = {
            attribute: Answer.from_slot(
                updates.get(attribute_slot(attribute))
                or tracker.get_slot(attribute_slot(attribute))
            )
            for attribute in attributes_of(symptom)
        }
        raw = [answer.text for answer in answers.values() if answer.text]
        if tracker.get_slot(DESCRIPTION):
            raw.insert(0, str(tracker.get_slot(DESCRIPTION)))
        key = await in_session_async(
            lambda session: _store_and_decide(session, tracker, symptom, answers, raw)
        )
        language = language_of(tracker)
        label = symptom_label(symptom, language)
        say(dispatcher, messages(current_study(), key, language=language, symptom=label))
        queue = list(tracker.get_slot(QUEUE) or [])
        if not queue:
            return {DONE: True}
        return {
            CURRENT: queue[0],
            QUEUE: queue[1:],
            **{slot: None for slot in ATTRIBUTE_SLOTS},
        }

    async def validate_symptom_frequency(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Accept a frequency, or ask again once with an example."""
        return await self._validate_attribute(Attribute.FREQUENCY, value, dispatcher, tracker)

    async def validate_symptom_severity(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Accept a severity, or ask again once with an example."""
        return await self._validate_attribute(Attribute.SEVERITY, value, dispatcher, tracker)

    async def validate_symptom_interference(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Accept an interference answer, or ask again once with an example."""
        return await self._validate_attribute(Attribute.INTERFERENCE, value, dispatcher, tracker)


# Intents that interrupt a form instead of answering its question: the form steps aside
# and the rules for these intents run (an emergency always wins).
INTERRUPTIONS = frozenset(
    {
        "emergency",
        "faq",
        "bot_challenge",
        "pause",
        "goodbye",
        "withdraw",
        "medical_advice",
        "request_human",
    }
)


def is_interruption(tracker: Tracker) -> bool:
    message = tracker.latest_message
    if message.get("red_flags"):
        return True
    intent = (message.get("intent") or {}).get("name")
    return intent in INTERRUPTIONS


class ActionStartSymptomReport(Action):
    """Starts a symptom report with the symptoms named in the message."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_start_symptom_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Queue the named symptoms; with none named, a kind word first (the form asks).

        A check-in paused for this report keeps its ID: the report belongs to it, and the
        check-in picks up where it stopped.
        """
        symptoms = symptoms_in_message(tracker.latest_message)
        if not symptoms:
            say(
                dispatcher,
                messages(current_study(), "symptom_start_unwell", language=language_of(tracker)),
            )
        return start_events(symptoms)


class ValidateSymptomForm(SymptomInterview, FormValidationAction):
    """The symptom report on its own: only the interview's slots."""

    def name(self) -> str:
        """The validation action's name (validate_<form>)."""
        return "validate_symptom_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """The interview's remaining slots."""
        return interview_slots(tracker)


class AskSymptomQuestion(Action):
    """Asks one attribute of the current symptom, with 0-4 answer buttons."""

    attribute: Attribute = Attribute.SEVERITY

    def name(self) -> str:
        """The action's name in the domain (action_ask_<slot>)."""
        return f"action_ask_{attribute_slot(self.attribute)}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Ask, naming the symptom in plain words of the conversation's language."""
        language = language_of(tracker)
        name = symptom_label(tracker.get_slot(CURRENT), language)
        key = f"ask_{attribute_slot(self.attribute)}"
        say(
            dispatcher,
            messages(current_study(), key, language=language, symptom=name),
            buttons=scale_buttons(self.attribute, language),
        )
        return []


class ActionAskSymptomFrequency(AskSymptomQuestion):
    """How often."""

    attribute = Attribute.FREQUENCY


class ActionAskSymptomInterference(AskSymptomQuestion):
    """How much in the way of daily activities."""

    attribute = Attribute.INTERFERENCE


class ActionAskSymptomDescription(Action):
    """Asks what is bothering them."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_ask_symptom_description"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Ask for a short description."""
        say(
            dispatcher,
            messages(current_study(), "ask_symptom_description", language=language_of(tracker)),
        )
        return []


class ActionFinishSymptomReport(Action):
    """Clears the interview's slots after a symptom report."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_finish_symptom_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Reset for the next report; a paused check-in then skips "what is bothering you"."""
        in_checkin = True if tracker.get_slot(CHECKIN_ID) else None
        return [*start_events([]), SlotSet(DONE, in_checkin), SlotSet("reasked_slot", None)]
