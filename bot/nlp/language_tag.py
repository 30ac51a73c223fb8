"""The Rasa NLU component that tags each message with the participant's language.

It puts the participant's language into the `language` entity, which fills the `language`
slot on every turn (domain/language.yml): the message metadata's language, which the
channel layer (`bot.safety.turn_guard`) sets from the participant's record. A message with
no such metadata (`rasa shell`, test stories) gets no entity, and the slot keeps its value
(English at first): the language is the participant's, never guessed here per message.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    METADATA,
)
from rasa.shared.nlu.training_data.message import Message

from bot.core.languages import LANGUAGE_SLOT
from bot.nlp.language import metadata_language


def language_entity(language: str) -> dict[str, Any]:
    """The `language` entity for a message or a trigger_intent call."""
    return {
        ENTITY_ATTRIBUTE_TYPE: LANGUAGE_SLOT,
        ENTITY_ATTRIBUTE_VALUE: language,
        ENTITY_ATTRIBUTE_START: 0,
        ENTITY_ATTRIBUTE_END: 0,
        EXTRACTOR: LanguageTag.__name__,
    }


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class LanguageTag(GraphComponent):
    """Adds the `language` entity from the language the channel layer put in the metadata."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageTag:
        """Create the component (it has nothing to train)."""
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        """Tag each message with its language, when known."""
        for message in messages:
            language = metadata_language(message.get(METADATA))
            if language is None:
                continue
            entities = [e for e in message.get(ENTITIES) or [] if e.get("entity") != LANGUAGE_SLOT]
            message.set(ENTITIES, [*entities, language_entity(language)], add_to_output=True)
        return messages
