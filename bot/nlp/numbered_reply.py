"""A Rasa NLU component: a bare number is an answer to the question just asked.

Over SMS, participants answer numbered choices ("Reply 1-5") with a single digit. A digit
alone carries too little for the model to classify reliably, so this makes it the
`answer` intent deterministically; the forms then read the number. (A red flag still wins:
RedFlagGuard runs after this.)
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

ANSWER = "answer"
NUMBER_REPLY = re.compile(r"\s*#?\s*\d\s*[.!)]?\s*")


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class NumberedReply(GraphComponent):
    """Sets the intent `answer` for a message that is one digit ("3", "#3", "3.")."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> NumberedReply:
        """Create the component (it has nothing to train)."""
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        """Mark single-digit replies as answers."""
        for message in messages:
            text = message.get(TEXT) or ""
            if NUMBER_REPLY.fullmatch(text):
                message.set(INTENT, {"name": ANSWER, "confidence": 1.0}, add_to_output=True)
                ranking = [
                    entry
                    for entry in message.get(INTENT_RANKING_KEY) or []
                    if entry.get("name") != ANSWER
                ]
                message.set(
                    INTENT_RANKING_KEY,
                    [{"name": ANSWER, "confidence": 1.0}, *ranking],
                    add_to_output=True,
                )
        return messages
