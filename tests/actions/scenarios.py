"""Helpers to build scenarios and read what actions said."""

from __future__ import annotations

from typing import Any

from rasa_sdk.executor import CollectingDispatcher


def selected_faq(topic: str, confidence: float = 0.9) -> dict[str, Any]:
    """ResponseSelector output as Rasa puts it on a parsed message."""
    return {
        "all_retrieval_intents": ["faq"],
        "faq": {
            "response": {
                "intent_response_key": f"faq/{topic}",
                "confidence": confidence,
                "utter_action": f"utter_faq/{topic}",
                "responses": [{"text": "..."}],
            },
            "ranking": [],
        },
    }


def texts(dispatcher: CollectingDispatcher) -> list[str]:
    """The texts an action sent."""
    return [message["text"] for message in dispatcher.messages if message.get("text")]
