"""A Rasa NLU component that makes emergencies deterministic (safety rule 1).

It runs last in the NLU pipeline, on every message, and reads the spaCy doc the project's
pipeline made:

- a red flag that is not negated sets the intent to `emergency` (confidence 1.0), whatever
  the model predicted, and lists the red flags on the message (`red_flags`) so actions
  can tell self-harm from the rest;
- an `emergency` prediction without a red flag is the model's guess (the model may know
  a phrasing the lexicon does not: "im so dizzy i think im dying"; `action_emergency`
  then gives the emergency number and asks). It is withdrawn (the next intent of the
  ranking) when the message's red flags are all negated ("no chest pain today"), and it
  becomes `report_symptom` when the message names a symptom and no fear of dying ("i
  threw up 3 times": the interview grades it);
- a message read as `feeling_well` that says the participant feels bad ("feel like
  death", "im not ok": label DISTRESS) or names a symptom that is not negated becomes
  `report_symptom`, so it is never answered "That is great to hear!";
- SYMPTOM entities get their canonical symptom name as value ("threw up" -> vomiting).
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from spacy.tokens import Doc

from bot.nlp.analysis import red_flags_in, symptoms_in
from bot.nlp.components import NEGATED_SPANS, RED_FLAG_LABEL

logger = logging.getLogger(__name__)

EMERGENCY = "emergency"
FEELING_WELL = "feeling_well"
REPORT_SYMPTOM = "report_symptom"
DISTRESS_LABEL = "DISTRESS"
DYING = "dying"
RED_FLAGS = "red_flags"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class RedFlagGuard(GraphComponent):
    """Overrides the intent with `emergency` on any red flag; respects negation."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RedFlagGuard:
        """Create the component (it has nothing to train)."""
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        """Check every message."""
        for message in messages:
            doc = message.get(SPACY_DOCS[TEXT])
            if doc is None:
                continue  # no text (e.g. a payload); nothing to check
            _canonical_symptoms(message, doc)
            _guard(message, doc)
            _never_cheerful_to_distress(message, doc)
        return messages


def _guard(message: Message, doc: Doc) -> None:
    flags = red_flags_in(doc)
    message.set(
        RED_FLAGS, [{"category": f.category, "text": f.text} for f in flags], add_to_output=True
    )
    intent = message.get(INTENT) or {}
    ranking = [entry for entry in message.get(INTENT_RANKING_KEY) or [] if entry]
    if flags:
        message.set(INTENT, {"name": EMERGENCY, "confidence": 1.0}, add_to_output=True)
        others = [entry for entry in ranking if entry.get("name") != EMERGENCY]
        message.set(
            INTENT_RANKING_KEY,
            [{"name": EMERGENCY, "confidence": 1.0}, *others],
            add_to_output=True,
        )
        logger.info("red flag: %s", ", ".join(f.category for f in flags))
        return
    if intent.get("name") != EMERGENCY:
        return
    negated = [span for span in doc.spans.get(NEGATED_SPANS, []) if span.label_ == RED_FLAG_LABEL]
    others = [entry for entry in ranking if entry.get("name") != EMERGENCY]
    if negated and others:
        _replace_intent(message, dict(others[0]), others)
        return
    if symptoms_in(doc) and not _fears_dying(doc):
        # "i threw up 3 times": a symptom report, graded by the interview (severe -> urgent).
        confidence = intent.get("confidence", 1.0)
        symptom_report = {"name": REPORT_SYMPTOM, "confidence": confidence}
        rest = [entry for entry in others if entry.get("name") != REPORT_SYMPTOM]
        _replace_intent(message, symptom_report, [symptom_report, *rest])


def _fears_dying(doc: Doc) -> bool:
    """True for "i think im dying" and the like (label DISTRESS, id `dying`)."""
    return any(ent.label_ == DISTRESS_LABEL and ent.ent_id_ == DYING for ent in doc.ents)


def _never_cheerful_to_distress(message: Message, doc: Doc) -> None:
    """`feeling_well` with a feeling-bad phrase or a symptom (not negated) -> report_symptom."""
    intent = message.get(INTENT) or {}
    if intent.get("name") != FEELING_WELL:
        return
    unwell = [ent for ent in doc.ents if ent.label_ == DISTRESS_LABEL] or symptoms_in(doc)
    if not unwell:
        return
    ranking = [entry for entry in message.get(INTENT_RANKING_KEY) or [] if entry]
    others = [entry for entry in ranking if entry.get("name") != REPORT_SYMPTOM]
    confidence = intent.get("confidence", 1.0)
    _replace_intent(
        message,
        {"name": REPORT_SYMPTOM, "confidence": confidence},
        [{"name": REPORT_SYMPTOM, "confidence": confidence}, *others],
    )
    logger.info("feeling_well with words of feeling unwell: read as report_symptom")


def _replace_intent(message: Message, intent: dict[str, Any], ranking: list[Any]) -> None:
    message.set(INTENT, intent, add_to_output=True)
    message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)


def _canonical_symptoms(message: Message, doc: Doc) -> None:
    by_offsets = {
        (ent.start_char, ent.end_char): ent.ent_id_ for ent in doc.ents if ent.label_ == "SYMPTOM"
    }
    for entity in message.get(ENTITIES) or []:
        if entity.get("entity") != "SYMPTOM":
            continue
        canonical = by_offsets.get((entity.get("start"), entity.get("end")))
        if canonical:
            entity["value"] = canonical
