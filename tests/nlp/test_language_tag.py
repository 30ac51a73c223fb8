"""The NLU component that tags a message with its language (bot/nlp/language_tag.py)."""

from __future__ import annotations

from rasa.shared.nlu.training_data.message import Message

from bot.nlp.language_tag import LanguageTag


def tagged(text: str, metadata: object) -> list[dict[str, object]]:
    message = Message(data={"text": text, "metadata": metadata, "entities": []})
    [done] = LanguageTag().process([message])
    return [e for e in done.get("entities") if e["entity"] == "language"]


def test_the_channels_language_becomes_the_language_entity() -> None:
    [entity] = tagged("what is a placebo", {"language": "es"})

    assert entity["value"] == "es"
    assert entity["extractor"] == "LanguageTag"


def test_without_the_channels_word_nothing_is_guessed() -> None:
    assert tagged("hola, q es un placebo", None) == []
    assert tagged("hola", {"language": "fr"}) == []
