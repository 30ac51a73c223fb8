"""The Rasa NLU component that makes emergencies deterministic (bot/safety/red_flag_guard.py)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from spacy.language import Language

from bot.safety.red_flag_guard import RedFlagGuard


def parsed(nlp: Language, text: str, intent: str, *others: str) -> Message:
    """A message as the pipeline leaves it before the guard: doc, intent, ranking."""
    message = Message(data={TEXT: text})
    message.set(SPACY_DOCS[TEXT], nlp(text))
    message.set("intent", {"name": intent, "confidence": 0.8})
    ranking = [{"name": intent, "confidence": 0.8}]
    ranking += [{"name": name, "confidence": 0.1} for name in others]
    message.set("intent_ranking", ranking)
    message.set(
        "entities",
        [
            {"entity": ent.label_, "value": ent.text, "start": ent.start_char, "end": ent.end_char}
            for ent in message.get(SPACY_DOCS[TEXT]).ents
        ],
    )
    return message


def guarded(message: Message) -> dict[str, Any]:
    [out] = RedFlagGuard().process([message])
    return {
        "intent": out.get("intent")["name"],
        "confidence": out.get("intent")["confidence"],
        "red_flags": [flag["category"] for flag in out.get("red_flags")],
        "symptoms": [e["value"] for e in out.get("entities") if e["entity"] == "SYMPTOM"],
    }


@pytest.mark.parametrize("model_said", ["greet", "faq", "report_symptom", "nlu_fallback"])
def test_a_red_flag_is_an_emergency_whatever_the_model_said(nlp: Language, model_said: str) -> None:
    result = guarded(parsed(nlp, "crushing chest pain since lunch", model_said))

    assert result["intent"] == "emergency"
    assert result["confidence"] == 1.0
    assert result["red_flags"] == ["chest_pain"]


def test_negated_red_flags_withdraw_the_models_emergency(nlp: Language) -> None:
    result = guarded(parsed(nlp, "no chest pain today", "emergency", "feeling_well"))

    assert result["intent"] == "feeling_well"
    assert result["red_flags"] == []


@pytest.mark.parametrize(
    "text",
    ["im so dizzy i think im dying", "cant stop shaking and sweating, feel like death"],
)
def test_the_models_emergency_stands_when_symptoms_come_with_it(nlp: Language, text: str) -> None:
    # No red flag in the lexicon, but the model heard an emergency: safety first.
    result = guarded(parsed(nlp, text, "emergency", "report_symptom"))

    assert result["intent"] == "emergency"
    assert result["red_flags"] == []


def test_the_models_emergency_stands_when_the_lexicon_knows_nothing(nlp: Language) -> None:
    result = guarded(parsed(nlp, "please send an ambulance to my house", "emergency", "greet"))

    assert result["intent"] == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "feel like death",
        "i feel terrible today",
        "im not ok",
        "honestly not feeling great",
        "been feeling down lately",
        "im fine but my cough is awful",
    ],
)
def test_feeling_bad_is_never_read_as_feeling_well(nlp: Language, text: str) -> None:
    result = guarded(parsed(nlp, text, "feeling_well", "report_symptom"))

    assert result["intent"] == "report_symptom"


@pytest.mark.parametrize(
    "text", ["im good", "not bad at all", "i no longer feel awful", "my cough is gone"]
)
def test_feeling_well_stays_when_nothing_bad_is_said(nlp: Language, text: str) -> None:
    assert guarded(parsed(nlp, text, "feeling_well", "report_symptom"))["intent"] == "feeling_well"


def test_the_models_emergency_with_a_symptom_named_is_a_symptom_report(nlp: Language) -> None:
    """No red flag, a symptom named: the interview grades it (severe is urgent)."""
    result = guarded(parsed(nlp, "i threw up 3 times", "emergency", "report_symptom"))

    assert result["intent"] == "report_symptom"
    assert result["symptoms"] == ["vomiting"]


def test_the_models_emergency_stands_with_a_fear_of_dying(nlp: Language) -> None:
    result = guarded(parsed(nlp, "im so dizzy i think im dying", "emergency", "report_symptom"))

    assert result["intent"] == "emergency"


# --- Spanish: the same guard, the same pipeline ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("me duele mucho el pecho", "chest_pain"),
        ("no puedo jalar aire", "breathing"),
        ("me quiero morir", "self_harm"),
        ("me tomé todas las pastillas", "overdose"),
    ],
)
@pytest.mark.parametrize("model_said", ["greet", "faq", "feeling_well", "nlu_fallback"])
def test_a_spanish_red_flag_is_an_emergency_whatever_the_model_said(
    nlp: Language, model_said: str, text: str, category: str
) -> None:
    result = guarded(parsed(nlp, text, model_said))

    assert result["intent"] == "emergency"
    assert result["red_flags"] == [category]


def test_negated_spanish_red_flags_withdraw_the_models_emergency(nlp: Language) -> None:
    result = guarded(parsed(nlp, "hoy no tengo dolor de pecho", "emergency", "feeling_well"))

    assert result["intent"] == "feeling_well"
    assert result["red_flags"] == []


def test_a_spanish_symptom_without_red_flag_is_a_symptom_report(nlp: Language) -> None:
    result = guarded(parsed(nlp, "vomité 3 veces", "emergency", "report_symptom"))

    assert result["intent"] == "report_symptom"
    assert result["symptoms"] == ["vomiting"]


@pytest.mark.parametrize(
    "text", ["me siento fatal", "no me siento bien", "ando bien pero con mucha tos"]
)
def test_feeling_bad_in_spanish_is_never_read_as_feeling_well(nlp: Language, text: str) -> None:
    result = guarded(parsed(nlp, text, "feeling_well", "report_symptom"))

    assert result["intent"] == "report_symptom"


def test_the_models_emergency_stands_with_a_spanish_fear_of_dying(nlp: Language) -> None:
    result = guarded(parsed(nlp, "estoy bien mareada, siento que me muero", "emergency"))

    assert result["intent"] == "emergency"
