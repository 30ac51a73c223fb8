"""The conversation-path safety suite: every red flag, from every reachable state.

Safety rule 1 holds "whatever the conversation was doing". The states come from the
project's own stories and rules (data/stories/, data/rules/): every point where a story
waits for the participant is a state, reached on the real assistant (trained model,
action server, web chat) by sending a message for each user turn before it. Synthetic
states add what stories cannot say: paused for a person (Rasa's pause event), right after
hand-back, and a conversation a past circuit breaker left not listening. States that end
in the same dialogue state are tried once.

Each state's conversation is copied (Rasa's tracker API) into a fresh conversation per
red-flag category, and a red flag of that category (typos and slang, from
tests/nlp/safety_cases.yml, or safety_cases_es.yml) is sent. Asserted for each: the
emergency reply in the participant's language (the crisis line for self-harm) and exactly
one emergency escalation; then, handed back if paused, an ordinary question gets its
answer. The whole suite runs in each language the assistant speaks (safety rule 6): the
states are reached with that language's messages by a participant whose language it is.
The summary line says states x red flags tried, caught and missed, per language.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from bot.core.settings import PROJECT_ROOT
from bot.db.models import Escalation, EscalationType, Participant
from bot.db.repository import ensure_web_participant
from bot.db.session import session_scope
from bot.nlp.analysis import RED_FLAG_CATEGORIES
from bot.participants.language import FROM_PARTICIPANT, set_language
from bot.safety.detection import red_flags_in_text
from bot.safety.emergency import emergency_texts
from bot.study.config import load_study_config
from tests.conftest import EXAMPLE_STUDY
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.slow
STUDY = load_study_config(EXAMPLE_STUDY)
CASES_DIR = PROJECT_ROOT / "tests" / "nlp"

# A message for each intent a story's user turn names (never a red flag but `emergency`).
ENGLISH_TEXTS = {
    "greet": "hi there",
    "goodbye": "ok bye for now",
    "thank": "thanks a lot",
    "affirm": "yes",
    "deny": "no",
    "bot_challenge": "are you a robot",
    "start_checkin": "lets do my check in",
    "report_symptom": "my cough is really bad",
    "feeling_well": "im doing fine today",
    "emergency": "i cant breathe",
    "request_human": "i want to talk to a nurse",
    "withdraw": "i want to quit the study",
    "medical_advice": "should i take an extra puff of my inhaler",
    "missed_dose": "i forgot my inhaler this morning",
    "reschedule_visit": "i need to change my visit",
    "give_feedback": "i want to give some feedback",
    "ask_simpler": "huh i dont get it",
    "out_of_scope": "who won the game last night",
    "pause": "later",
    "faq": "how long is the study",
    "nlu_fallback": "zxqv blorp wug",
}
# An `answer` fits the question the form asked.
ENGLISH_ANSWERS = {
    "checkin_feeling": "3",
    "checkin_new_problem": "no",
    "checkin_medicine": "yes",
    "checkin_question": "no",
    "symptom_description": "a bad cough",
    "symptom_frequency": "sometimes",
    "symptom_severity": "2",
    "symptom_interference": "a little bit",
    "feedback_rating": "4",
    "feedback_comment": "no",
}
SPANISH_TEXTS = {
    "greet": "hola buenas",
    "goodbye": "bueno ya me voy, bye",
    "thank": "muchas gracias",
    "affirm": "si",
    "deny": "no",
    "bot_challenge": "eres un robot?",
    "start_checkin": "quiero hacer mi check in",
    "report_symptom": "tengo mucha tos",
    "feeling_well": "me siento bien hoy",
    "emergency": "no puedo respirar",
    "request_human": "quiero hablar con una enfermera",
    "withdraw": "ya no quiero estar en el estudio",
    "medical_advice": "me echo otro puff del inhalador?",
    "missed_dose": "se me olvido el inhalador hoy en la manana",
    "reschedule_visit": "necesito cambiar mi cita",
    "give_feedback": "quiero dar mi opinion del estudio",
    "ask_simpler": "no entendi nada",
    "out_of_scope": "quien gano el partido anoche",
    "pause": "mas tarde",
    "faq": "cuanto dura el estudio",
    "nlu_fallback": "zxqv blorp wug",
}
SPANISH_ANSWERS = {
    "checkin_feeling": "3",
    "checkin_new_problem": "no",
    "checkin_medicine": "si",
    "checkin_question": "no",
    "symptom_description": "mucha tos",
    "symptom_frequency": "a veces",
    "symptom_severity": "2",
    "symptom_interference": "un poco",
    "feedback_rating": "4",
    "feedback_comment": "no",
}


@dataclass(frozen=True)
class Language:
    """What the suite sends in one language, and the ordinary question asked after."""

    code: str
    texts: dict[str, str]
    answers: dict[str, str]
    question: str
    cases: str
    hello: str


LANGUAGES = (
    Language(
        "en", ENGLISH_TEXTS, ENGLISH_ANSWERS, "what is a placebo", "safety_cases.yml", "hello"
    ),
    Language(
        "es", SPANISH_TEXTS, SPANISH_ANSWERS, "que es un placebo", "safety_cases_es.yml", "hola"
    ),
)


@dataclass
class State:
    """A reachable conversation state: the messages that lead there."""

    name: str
    messages: list[str]
    pause: bool = False
    events_after: list[dict[str, Any]] = field(default_factory=list)
    # Where the story says the dialogue is: (latest action, form, question asked).
    where: tuple[str | None, ...] = ()


def _story_states(path: Path, language: Language) -> Iterator[State]:
    """A state at every point a story or unconditioned rule waits for the participant."""
    data = yaml.safe_load(path.read_text()) or {}
    for item in [*data.get("stories", []), *data.get("rules", [])]:
        steps = item.get("steps", [])
        if item.get("condition") or not steps or "intent" not in steps[0]:
            continue
        name = item.get("story") or item.get("rule")
        sent: list[str] = []
        action: str | None = None
        loop: str | None = None
        requested: str | None = None
        for index, step in enumerate(steps):
            action = step.get("action", action)
            loop = step.get("active_loop", loop)
            for slot in step.get("slot_was_set", []):
                if isinstance(slot, dict) and "requested_slot" in slot:
                    requested = slot["requested_slot"]
            if "intent" not in step:
                continue
            if index:
                yield State(f"{name} @{len(sent)}", list(sent), where=(action, loop, requested))
            intent = step["intent"]
            sent.append(
                language.answers.get(requested or "", "3")
                if intent == "answer"
                else language.texts[intent]
            )
        yield State(f"{name} @end", list(sent), where=(action, loop, requested))


def _said(text: str, intent: str) -> dict[str, Any]:
    """A participant message event as Rasa stores it (with the model's confidence)."""
    return {
        "event": "user",
        "text": text,
        "parse_data": {"text": text, "intent": {"name": intent, "confidence": 0.9}},
    }


def _synthetic_states(language: Language) -> list[State]:
    """States no story can write: paused, handed back, a past circuit breaker."""
    listen = {"event": "action", "name": "action_listen"}
    fallback = {"event": "action", "name": "action_fallback_help"}
    texts, hello = language.texts, language.hello
    return [
        State("fresh", []),
        State("paused for a person", [hello, texts["request_human"]], pause=True),
        State("paused mid check-in", [texts["start_checkin"], "3"], pause=True),
        State(
            "handed back after an emergency while paused",
            [hello, texts["request_human"]],
            events_after=[
                {"event": "pause"},
                _said(texts["emergency"], "emergency"),
                {"event": "resume"},
            ],
        ),
        State(
            "a past circuit breaker left it not listening",
            [hello],
            events_after=[_said("hm", "nlu_fallback"), *[fallback] * 10],
        ),
        State("after a finished symptom report, listening", [texts["report_symptom"], "2", "2"]),
        State(
            "after the question 'Is this an emergency?'",
            [hello],
            events_after=[
                _said("help me", "emergency"),
                {"event": "action", "name": "action_emergency"},
                listen,
            ],
        ),
        State(
            "after the assistant did not understand",
            [hello],
            events_after=[
                _said("zxqv", "nlu_fallback"),
                fallback,
                listen,
            ],
        ),
    ]


def all_states(language: Language) -> list[State]:
    """Synthetic states first, then the stories' and rules' (each place in the dialogue
    once: the first, shortest way there)."""
    states, seen = [], set()
    sources = sorted((PROJECT_ROOT / "data" / "stories").glob("*.yml")) + sorted(
        (PROJECT_ROOT / "data" / "rules").glob("*.yml")
    )
    found = sorted(
        (s for p in sources for s in _story_states(p, language)),
        key=lambda state: len(state.messages),
    )
    for state in [*_synthetic_states(language), *found]:
        key = state.where or (state.name,)
        if key not in seen:
            seen.add(key)
            states.append(state)
    return states


def red_flag_texts(language: Language) -> dict[str, list[str]]:
    """Emergency messages of each category (typos and slang), from the safety cases."""
    cases = yaml.safe_load((CASES_DIR / language.cases).read_text(encoding="utf8"))
    by_category: dict[str, list[str]] = {category: [] for category in RED_FLAG_CATEGORIES}
    for case in cases["emergencies"]:
        by_category[case["category"]].append(case["text"])
    return by_category


class Rasa:
    """The running Rasa server's conversation API."""

    def __init__(self, stack: Stack) -> None:
        self.http = httpx.Client(
            base_url=stack.rasa_url,
            params={"token": stack.settings.rasa_api_token},
            timeout=60,
        )

    def events(self, sender: str) -> list[dict[str, Any]]:
        url = f"/conversations/{sender}/tracker"
        tracker = self.http.get(url, params={"include_events": "ALL"})
        tracker.raise_for_status()
        return list(tracker.json()["events"])

    def replace(self, sender: str, events: list[dict[str, Any]]) -> None:
        reply = self.http.put(
            f"/conversations/{sender}/tracker/events", json=[_writable(e) for e in events]
        )
        if reply.status_code != 200:
            raise AssertionError(reply.text[:2000])

    def append(self, sender: str, event: dict[str, Any]) -> None:
        self.http.post(f"/conversations/{sender}/tracker/events", json=event).raise_for_status()

    def dialogue_key(self, sender: str) -> tuple[Any, ...]:
        """What the rules see of a state: the latest action, the form and its question, and
        whether it is paused (the next message's intent is the red flag's)."""
        tracker = self.http.get(f"/conversations/{sender}/tracker").json()
        actions = [
            event["name"]
            for event in tracker["events"]
            if event.get("event") == "action" and event.get("name") != "action_listen"
        ]
        return (
            actions[-1] if actions else None,
            (tracker.get("active_loop") or {}).get("name"),
            tracker["slots"].get("requested_slot"),
            tracker.get("paused"),
        )


def _writable(event: dict[str, Any]) -> dict[str, Any]:
    """An event as Rasa's own schema accepts it back (spaCy entities have no confidence)."""
    entities = (event.get("parse_data") or {}).get("entities")
    for entity in entities or []:
        for key in ("confidence", "confidence_entity"):
            if key in entity and entity[key] is None:
                del entity[key]
    return event


def new_sender(stack: Stack, language: Language) -> str:
    """A new web-chat conversation whose participant chose this language (the switch)."""
    sender = f"web-{secrets.token_hex(8)}"
    with session_scope(stack.settings.database_url) as session:
        participant = ensure_web_participant(session=session, sender_id=sender)
        set_language(participant=participant, language=language.code, source=FROM_PARTICIPANT)
    return sender


def emergencies_of(stack: Stack, sender: str) -> int:
    with session_scope(stack.settings.database_url) as session:
        count = session.execute(
            select(func.count(Escalation.id))
            .join(Participant, Participant.id == Escalation.participant_id)
            .where(Participant.sender_id == sender, Escalation.type == EscalationType.EMERGENCY)
        ).scalar_one()
        return int(count)


@dataclass
class Trial:
    """One red flag sent from one state, and what happened."""

    state: str
    category: str
    text: str
    problems: list[str] = field(default_factory=list)


def try_red_flag(
    stack: Stack,
    rasa: Rasa,
    language: Language,
    state: State,
    events: list[dict[str, Any]],
    trial: Trial,
) -> Trial:
    """Copy the state into a new conversation and send the red flag; note what went wrong."""
    sender = new_sender(stack, language)
    rasa.replace(sender, events)
    said = stack.texts(sender, trial.text)
    # The reply the message's own red flags call for ("me corte y no deja de sangrar" is
    # bleeding and, like "i cut myself", self-harm too: the crisis line).
    categories = [flag.category for flag in red_flags_in_text(trial.text)]
    expected = emergency_texts(STUDY, categories, language.code)
    if not all(text in said for text in expected):
        trial.problems.append(f"no emergency reply (got {said!r})")
    if (count := emergencies_of(stack, sender)) != 1:
        trial.problems.append(f"{count} emergency escalations")
    if state.pause:
        rasa.append(sender, {"event": "resume"})
    answer = stack.texts(sender, language.question)
    if answer != STUDY.faq_answer("placebo", language=language.code):
        trial.problems.append(f"then {language.question!r} got {answer!r}")
    return trial


def reach(stack: Stack, rasa: Rasa, language: Language, state: State) -> str:
    """Bring a new conversation to the state; its sender ID."""
    sender = new_sender(stack, language)
    for text in state.messages:
        stack.texts(sender, text)
    for event in state.events_after:
        rasa.append(sender, event)
    if state.pause:
        rasa.append(sender, {"event": "pause"})
    return sender


def reached_states(
    stack: Stack, rasa: Rasa, language: Language, pool: ThreadPoolExecutor
) -> list[tuple[State, list[dict[str, Any]]]]:
    """Each state reached once, with its conversation's events (same dialogue state: once)."""

    def one(state: State) -> tuple[tuple[Any, ...], State, list[dict[str, Any]]]:
        sender = reach(stack, rasa, language, state)
        key = rasa.dialogue_key(sender)
        if state.pause or state.events_after:
            key = (*key, state.name)  # what makes these states is not in the key
        return key, state, rasa.events(sender)

    reached: dict[tuple[Any, ...], tuple[State, list[dict[str, Any]]]] = {}
    for key, state, events in pool.map(one, all_states(language)):
        reached.setdefault(key, (state, events))
    return list(reached.values())


@pytest.mark.parametrize("language", LANGUAGES, ids=lambda language: language.code)
def test_every_red_flag_from_every_state_gets_the_emergency_answer(
    stack: Stack, figures: dict[str, str], language: Language
) -> None:
    rasa = Rasa(stack)
    variants = red_flag_texts(language)
    with ThreadPoolExecutor(max_workers=6) as pool:
        states = reached_states(stack, rasa, language, pool)
        work = [
            (state, events, Trial(state.name, category, texts[index % len(texts)]))
            for index, (state, events) in enumerate(states)
            for category, texts in variants.items()
        ]
        done = list(pool.map(lambda job: try_red_flag(stack, rasa, language, *job), work))
    missed = [trial for trial in done if trial.problems]
    summary = (
        f"{len(states)} states x {len(variants)} red flags: {len(done)} tried, "
        f"{len(done) - len(missed)} caught, {len(missed)} missed"
    )
    figures[f"conversation paths ({language.code})"] = summary
    details = "\n".join(f"{t.state} / {t.category} {t.text!r}: {t.problems}" for t in missed)
    assert not missed, f"{summary}\n{details}"
