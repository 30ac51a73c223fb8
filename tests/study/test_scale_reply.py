"""Unplaced scale phrasings become answers (bot/study/scale_reply.py)."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.study.scale_reply import ScaleReply


def parsed(text: str, intent: str, confidence: float = 0.4) -> dict[str, object]:
    ranking = [
        {"name": intent, "confidence": confidence},
        {"name": "report_symptom", "confidence": 0.3},
    ]
    message = Message(
        data={
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": ranking,
        }
    )
    [done] = ScaleReply().process([message])
    return dict(done.get("intent"))


@pytest.mark.parametrize("text", ["pretty bad", "Muy severo!", "a veces", "un poco", "not at all"])
def test_an_unplaced_scale_phrasing_is_an_answer(text: str) -> None:
    assert parsed(text, "nlu_fallback")["name"] == "answer"


def test_a_sure_prediction_is_left_alone() -> None:
    assert parsed("pretty bad", "report_symptom", 0.9)["name"] == "report_symptom"


@pytest.mark.parametrize("text", ["my cough is pretty bad and i am scared", "zxqv", "hola"])
def test_other_unplaced_messages_stay_unplaced(text: str) -> None:
    assert parsed(text, "nlu_fallback")["name"] == "nlu_fallback"
