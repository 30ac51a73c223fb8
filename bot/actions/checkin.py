"""The check-in: how they feel, anything new (the symptom interview), medicine, questions.

It works over SMS (numbered choices), Telegram (buttons) and typed words, in English or
Spanish; it can be paused ("later", "luego") and picked up again ("check in", "chequeo").
Everything is stored when it ends.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions.answers import REASKED, Answer, read_choice, read_yes_no, words_of
from bot.actions.questions import asked_instead
from bot.actions.records import participant_id
from bot.actions.replies import (
    ONLY_NO,
    YES_NO,
    AskAction,
    choices,
    language_of,
    say,
)
from bot.actions.symptoms import (
    CHECKIN_ID,
    DONE,
    SymptomInterview,
    interview_slots,
    is_interruption,
    start_events,
    symptoms_in_message,
)
from bot.db.models import CheckinStatus, EscalationLevel, EscalationType
from bot.db.repository import finish_checkin, get_checkin, record_dose, start_checkin
from bot.db.session import in_session_async
from bot.db.types import utcnow
from bot.escalation.records import latest_inbound_message_id, raise_escalation
from bot.outreach.deferred import RESUME_WITHIN
from bot.study.choices import FEELING_CHOICES
from bot.study.config import current_study
from bot.study.wording import messages

FEELING = "checkin_feeling"
NEW_PROBLEM = "checkin_new_problem"
MEDICINE = "checkin_medicine"
QUESTION = "checkin_question"
CHECKIN_SLOTS = (FEELING, NEW_PROBLEM, MEDICINE, QUESTION)
FORM = "checkin_form"
# A paused check-in older than this is closed and a new one started.

FEELING_WORDS = {
    "very bad": 1, "terrible": 1, "awful": 1, "horrible": 1, "really bad": 1, "worst": 1,
    "not good": 2, "bad": 2, "poor": 2, "not great": 2, "not so good": 2, "meh": 2,
    "rough": 2, "crappy": 2, "lousy": 2, "not well": 2, "unwell": 2,
    "ok": 3, "okay": 3, "alright": 3, "all right": 3, "so so": 3, "so-so": 3, "fair": 3,
    "average": 3, "not bad": 3, "same": 3, "same as usual": 3,
    "good": 4, "fine": 4, "well": 4, "pretty good": 4, "better": 4, "doing good": 4,
    "great": 5, "very good": 5, "excellent": 5, "awesome": 5, "amazing": 5, "fantastic": 5,
    "really good": 5, "super": 5, "perfect": 5,
}  # fmt: skip
# Spanish, as typed (accents folded); a spelling shared with English keeps its English point.
FEELING_WORDS_ES = {
    "muy mal": 1, "fatal": 1, "pesimo": 1, "malisimo": 1, "bien mal": 1, "re mal": 1,
    "del asco": 1, "de la patada": 1, "muy muy mal": 1, "uno": 1,
    "mal": 2, "no muy bien": 2, "no tan bien": 2, "no bien": 2, "medio mal": 2, "malito": 2,
    "malita": 2, "no me siento bien": 2, "no muy bien que digamos": 2, "dos": 2,
    "regular": 3, "mas o menos": 3, "masomenos": 3, "maso": 3, "ahi vamos": 3,
    "ahi la llevo": 3, "ahi nomas": 3, "normal": 3, "igual": 3, "igual que siempre": 3,
    "como siempre": 3, "tres": 3,
    "bien": 4, "bastante bien": 4, "mejor": 4, "bien gracias": 4, "cuatro": 4,
    "muy bien": 5, "super bien": 5, "de maravilla": 5, "excelente": 5, "perfecto": 5,
    "perfecta": 5, "genial": 5, "increible": 5, "muy muy bien": 5, "de lujo": 5, "cinco": 5,
}  # fmt: skip
FEELINGS = {**FEELING_WORDS_ES, **FEELING_WORDS}
FEELING_PREFIXES = (
    "im ", "i am ", "i feel ", "feeling ", "feel ", "pretty ", "doing ",
    "me siento ", "estoy ", "ando ", "me encuentro ", "hoy me siento ", "hoy estoy ", "pues ",
)  # fmt: skip
MEDICINE_CHOICES = choices(
    ("yes", "Yes", "Sí"),
    ("some", "Missed some", "Me faltaron algunas"),
    ("no", "No", "No"),
)
# "Did you take your medicine?" answered with what happened instead of a no.
MEDICINE_NONE = (
    "forgot", "i forgot", "forgot it", "forgot to", "missed it", "missed them", "i missed it",
    "didnt take it", "didnt take them", "i didnt take it", "not today", "none",
    "se me olvido", "me olvide", "olvide", "se me paso", "ninguna", "nada", "hoy no",
)  # fmt: skip
MEDICINE_SOME = (
    "some", "missed some", "partly", "most", "mostly", "missed one", "half", "sort of",
    "algunas", "unas", "me faltaron algunas", "me falto una", "se me olvidaron algunas",
    "se me olvido una", "no todas", "casi todas", "la mayoria",
    "a medias", "la mitad", "mas o menos", "masomenos", "algunos dias",
)  # fmt: skip
MEDICINE_ALL = ("todas", "todas las dosis", "como siempre", "como me dijeron")


def read_feeling(text: str) -> int | None:
    """1 (very bad) to 5 (great), from a number or everyday words in English or Spanish."""
    words = words_of(text)
    if words in {"1", "2", "3", "4", "5"}:
        return int(words)
    words = words.removesuffix(" gracias").removesuffix(" thanks")
    for prefix in FEELING_PREFIXES:
        if words.startswith(prefix) and words[len(prefix) :] in FEELINGS:
            return FEELINGS[words[len(prefix) :]]
    return FEELINGS.get(words)


def read_medicine(text: str) -> str | None:
    """ "yes", "no" or "some" (missed some doses), in English or Spanish."""
    words = words_of(text)
    if any(words == some or words.startswith(f"{some} ") for some in MEDICINE_SOME):
        return "some"
    if any(words == none or words.startswith(f"{none} ") for none in MEDICINE_NONE):
        return "no"
    if words in MEDICINE_ALL:
        return "yes"
    answer = read_yes_no(text)
    if answer is None:
        return None
    return "yes" if answer else "no"


def _requested(tracker: Tracker, slot: str) -> bool:
    return tracker.get_slot("requested_slot") == slot and not is_interruption(tracker)


class ValidateCheckinForm(SymptomInterview, FormValidationAction):
    """Reads and checks the check-in's answers; runs the symptom interview when needed."""

    def name(self) -> str:
        """The validation action's name (validate_<form>)."""
        return "validate_checkin_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """Feeling, anything new (then the symptom interview), medicine, question."""
        new_problem = Answer.from_slot(tracker.get_slot(NEW_PROBLEM)).value is True
        symptom_part = interview_slots(tracker) if new_problem else []
        return [FEELING, NEW_PROBLEM, *symptom_part, MEDICINE, QUESTION]

    async def extract_checkin_feeling(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Read 1-5 or words when the feeling question is the one asked."""
        if not _requested(tracker, FEELING):
            return {}
        return {FEELING: read_choice(tracker.latest_message.get("text", ""), read_feeling)}

    async def validate_checkin_feeling(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Accept a feeling; a symptom told instead leads straight into the interview."""
        if value is None:
            return {FEELING: None}
        answer = Answer.from_slot(value)
        if (asked := await asked_instead(FEELING, answer.fits, dispatcher, tracker)) is not None:
            return asked
        symptoms = symptoms_in_message(tracker.latest_message)
        if not answer.fits and symptoms:
            return {
                FEELING: answer.as_slot(),
                NEW_PROBLEM: Answer(True, answer.text).as_slot(),
                REASKED: None,
                **_slot_dict(start_events(symptoms)),
            }
        return _accept_or_reask(answer, FEELING, "reask_feeling", dispatcher, tracker)

    async def extract_checkin_new_problem(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Read yes/no; naming a symptom counts as yes."""
        if not _requested(tracker, NEW_PROBLEM):
            return {}
        text = tracker.latest_message.get("text", "")
        answer = read_yes_no(text)
        if answer is None and symptoms_in_message(tracker.latest_message):
            answer = True
        return {NEW_PROBLEM: Answer(answer, text.strip()).as_slot()}

    async def validate_checkin_new_problem(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Yes starts the symptom interview (with the symptoms named, if any); no skips it."""
        if value is None:
            return {NEW_PROBLEM: None}
        answer = Answer.from_slot(value)
        yes_or_no = read_yes_no(answer.text) is not None  # a symptom named is no answer to this
        if (asked := await asked_instead(NEW_PROBLEM, yes_or_no, dispatcher, tracker)) is not None:
            return asked
        if answer.value is True:
            return {
                NEW_PROBLEM: answer.as_slot(),
                REASKED: None,
                **_slot_dict(start_events(symptoms_in_message(tracker.latest_message))),
            }
        if answer.value is False:
            return {NEW_PROBLEM: answer.as_slot(), REASKED: None, DONE: True}
        result = _accept_or_reask(answer, NEW_PROBLEM, "reask_yes_no", dispatcher, tracker)
        if result.get(NEW_PROBLEM):  # kept as free text: staff read it; no interview
            result[DONE] = True
        return result

    async def extract_checkin_medicine(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Read yes / no / some."""
        if not _requested(tracker, MEDICINE):
            return {}
        return {MEDICINE: read_choice(tracker.latest_message.get("text", ""), read_medicine)}

    async def validate_checkin_medicine(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Accept the answer, or ask again once with an example."""
        if value is None:
            return {MEDICINE: None}
        answer = Answer.from_slot(value)
        if (asked := await asked_instead(MEDICINE, answer.fits, dispatcher, tracker)) is not None:
            return asked
        return _accept_or_reask(answer, MEDICINE, "reask_medicine", dispatcher, tracker)

    async def extract_checkin_question(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """No -> no question; any other words are the question itself."""
        if not _requested(tracker, QUESTION):
            return {}
        text = tracker.latest_message.get("text", "").strip()
        answer = read_yes_no(text)
        value: Any = False if answer is False else (True if answer is True else text)
        return {QUESTION: Answer(value, text).as_slot()}

    async def validate_checkin_question(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A bare "yes" asks them to type the question."""
        if value is None:
            return {QUESTION: None}
        answer = Answer.from_slot(value)
        if answer.value is True:
            say(
                dispatcher,
                messages(current_study(), "ask_question_text", language=language_of(tracker)),
            )
            return {QUESTION: None}
        return {QUESTION: answer.as_slot(), REASKED: None}


def _accept_or_reask(
    answer: Answer,
    slot: str,
    reask_key: str,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
) -> dict[str, Any]:
    """Keep a fitting answer; ask once more with an example; then keep the words as they are."""
    language = language_of(tracker)
    if answer.needs_reask(tracker, slot):
        say(dispatcher, messages(current_study(), reask_key, language=language))
        return {slot: None, REASKED: slot}
    if not answer.fits:
        say(dispatcher, messages(current_study(), "free_text_kept", language=language))
    return {slot: answer.as_slot(), REASKED: None}


def _slot_dict(events: list[EventType]) -> dict[str, Any]:
    return {event["name"]: event["value"] for event in events if event.get("event") == "slot"}


class ActionAskCheckinFeeling(AskAction):
    """How they feel overall, 1 to 5."""

    slot = FEELING
    buttons = FEELING_CHOICES


class ActionAskCheckinNewProblem(AskAction):
    """Whether anything new is bothering them."""

    slot = NEW_PROBLEM
    buttons = YES_NO


class ActionAskCheckinMedicine(AskAction):
    """Whether they took the study medicine as planned."""

    slot = MEDICINE
    buttons = MEDICINE_CHOICES


class ActionAskCheckinQuestion(AskAction):
    """Whether they have a question for the team."""

    slot = QUESTION
    buttons = ONLY_NO


def _reset_events() -> list[EventType]:
    return [
        *[SlotSet(slot, None) for slot in CHECKIN_SLOTS],
        *start_events([]),
        SlotSet(DONE, None),
        SlotSet(REASKED, None),
    ]


class ActionStartCheckin(Action):
    """Starts a check-in, or picks up a recent paused one where it stopped.

    A check-in the outreach worker starts (entity `trigger: schedule`) opens with the
    `checkin_prompt` wording: the participant did not ask for it.
    """

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_start_checkin"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Say how it works and open a check-in record."""
        previous = tracker.get_slot(CHECKIN_ID)

        def work(session: Session) -> tuple[bool, int]:
            if previous:
                checkin = get_checkin(session=session, checkin_id=int(previous))
                unfinished = (CheckinStatus.IN_PROGRESS, CheckinStatus.PAUSED)
                if checkin is not None and checkin.status in unfinished:
                    if utcnow() - checkin.started_at <= RESUME_WITHIN:
                        checkin.status = CheckinStatus.IN_PROGRESS
                        return True, checkin.id
                    checkin.status = CheckinStatus.STOPPED
            owner = participant_id(session, tracker)
            return False, start_checkin(session=session, participant_id=owner).id

        resumed, checkin_id = await in_session_async(work)
        study, language = current_study(), language_of(tracker)
        if resumed:
            say(dispatcher, messages(study, "checkin_resume", language=language))
            return [SlotSet(REASKED, None)]
        scheduled = next(tracker.get_latest_entity_values("trigger"), None) == "schedule"
        key = "checkin_prompt" if scheduled else "checkin_start"
        say(dispatcher, messages(study, key, language=language))
        return [*_reset_events(), SlotSet(CHECKIN_ID, float(checkin_id))]


class ActionPauseCheckin(Action):
    """Stops the check-in for now; the answers so far are kept for later."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_pause_checkin"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Mark it paused and say how to pick it up."""
        checkin_id = tracker.get_slot(CHECKIN_ID)
        if checkin_id:

            def work(session: Session) -> None:
                checkin = get_checkin(session=session, checkin_id=int(checkin_id))
                if checkin is not None and checkin.status is CheckinStatus.IN_PROGRESS:
                    checkin.status = CheckinStatus.PAUSED

            await in_session_async(work)
        say(dispatcher, messages(current_study(), "checkin_paused", language=language_of(tracker)))
        return [ActiveLoop(None), SlotSet("requested_slot", None)]


class ActionFinishCheckin(Action):
    """Stores the finished check-in, flags what staff should see, and thanks them."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_finish_checkin"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Save answers, dose report and question; then reset for next time."""
        answers = {slot: Answer.from_slot(tracker.get_slot(slot)) for slot in CHECKIN_SLOTS}
        question = answers[QUESTION].value if isinstance(answers[QUESTION].value, str) else None
        checkin_id = tracker.get_slot(CHECKIN_ID)
        await in_session_async(
            lambda session: _store_checkin(session, tracker, checkin_id, answers)
        )
        study, language = current_study(), language_of(tracker)
        if question:
            say(dispatcher, messages(study, "checkin_question_noted", language=language))
        say(dispatcher, messages(study, "checkin_done", language=language))
        return [*_reset_events(), SlotSet(CHECKIN_ID, None)]


def _store_checkin(
    session: Session, tracker: Tracker, checkin_id: Any, answers: dict[str, Answer]
) -> None:
    """Save the check-in and raise what staff should see."""
    owner = participant_id(session, tracker)
    if not checkin_id:
        checkin_id = start_checkin(session=session, participant_id=owner).id
    feeling, medicine, question = answers[FEELING], answers[MEDICINE], answers[QUESTION]
    free_text = {slot: answer.text for slot, answer in answers.items() if not answer.fits}
    finish_checkin(
        session=session,
        checkin_id=int(checkin_id),
        status=CheckinStatus.COMPLETED,
        overall_feeling=feeling.point,
        new_problem=answers[NEW_PROBLEM].value if answers[NEW_PROBLEM].fits else None,
        took_medicine=medicine.value if medicine.fits else None,
        question=question.value if isinstance(question.value, str) else None,
        free_text_answers=free_text,
    )
    if medicine.fits:
        record_dose(
            session=session,
            participant_id=owner,
            taken=str(medicine.value),
            source="checkin",
            checkin_id=int(checkin_id),
        )
    reasons = _staff_reasons(feeling, medicine, question, free_text)
    message_log_id = latest_inbound_message_id(session=session, sender_id=tracker.sender_id)
    for kind, reason in reasons:
        raise_escalation(
            session=session,
            participant_id=owner,
            level=EscalationLevel.ROUTINE,
            type=kind,
            reason=reason,
            message_log_id=message_log_id,
        )


def _staff_reasons(
    feeling: Answer, medicine: Answer, question: Answer, free_text: dict[str, str]
) -> list[tuple[EscalationType, str]]:
    """What in a check-in the team should look at (routine review)."""
    reasons: list[tuple[EscalationType, str]] = []
    if isinstance(question.value, str):
        reasons.append(
            (EscalationType.QUESTION, "check-in: participant has a question for the team")
        )
    if feeling.point == 1:
        reasons.append((EscalationType.OTHER, "check-in: feels very bad overall (1 of 5)"))
    if medicine.value in ("no", "some"):
        reasons.append(
            (
                EscalationType.OTHER,
                f"check-in: study medicine not taken as planned ({medicine.value})",
            )
        )
    if free_text:
        fields = ", ".join(sorted(free_text))
        reasons.append(
            (EscalationType.OTHER, f"check-in: answers that did not fit the choices ({fields})")
        )
    return reasons
