"""A Rasa NLU component: a whole message that is a scale's answer is an answer when unsure.

The check-in asks PRO-CTCAE questions ("how bad was it at its worst?") and participants
answer with a scale's words: "pretty bad", "a veces", "un poco". Out of context some of
these could also be a symptom report, and with two languages in one model the model is
sometimes unsure between them ("pretty bad": answer 0.52, report_symptom 0.47), which the
FallbackClassifier turns into `nlu_fallback` and the participant gets "Sorry, I am not
sure what you mean" in the middle of their check-in. A message that is exactly one of the
scales' phrasings (the same table the forms read it with, `bot.study.pro_ctcae`) and that
the model could not place is therefore made the `answer` intent, as `NumberedReply` does
for a bare digit. A sure prediction is left alone, and a red flag still wins
(RedFlagGuard runs after this).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.study.pro_ctcae import is_scale_answer

ANSWER = "answer"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class ScaleReply(GraphComponent):
    """Sets the intent `answer` for an unplaced message that is a scale's phrasing."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ScaleReply:
        """Create the component (it has nothing to train)."""
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        """Make unplaced scale phrasings answers."""
        for message in messages:
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if intent != DEFAULT_NLU_FALLBACK_INTENT_NAME:
                continue
            if not is_scale_answer(message.get(TEXT) or ""):
                continue
            ranking = [
                entry
                for entry in message.get(INTENT_RANKING_KEY) or []
                if entry.get(INTENT_NAME_KEY) not in (ANSWER, DEFAULT_NLU_FALLBACK_INTENT_NAME)
            ]
            answer = {INTENT_NAME_KEY: ANSWER, "confidence": 1.0}
            message.set(INTENT, answer, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [answer, *ranking], add_to_output=True)
        return messages
