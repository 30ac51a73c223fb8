"""The symptom alert rules: severe -> urgent, worse by 2+ -> urgent, moderate -> routine."""

from __future__ import annotations

import pytest

from bot.db.models import EscalationLevel
from bot.escalation.rules import decide
from bot.study.config import EscalationRules
from bot.study.pro_ctcae import Attribute

DEFAULTS = EscalationRules()


@pytest.mark.parametrize(
    ("grade", "previous", "level"),
    [
        (4, None, EscalationLevel.URGENT),
        (3, None, EscalationLevel.URGENT),
        (3, 3, EscalationLevel.URGENT),
        (2, None, EscalationLevel.ROUTINE),
        (2, 0, EscalationLevel.URGENT),  # worse by 2 points
        (2, 1, EscalationLevel.ROUTINE),  # worse by 1 only
        (1, None, None),
        (1, 3, None),  # better
        (0, None, None),
        (None, None, EscalationLevel.ROUTINE),  # did not fit the scale: staff read it
    ],
)
def test_default_rules(
    grade: int | None, previous: int | None, level: EscalationLevel | None
) -> None:
    assert (
        decide(symptom="headache", grade=grade, previous_grade=previous, rules=DEFAULTS).level
        == level
    )


def test_worsening_reason_names_both_grades() -> None:
    decision = decide(symptom="nausea", grade=2, previous_grade=0, rules=DEFAULTS)
    assert "worse by 2" in decision.reason
    assert "0 -> 2" in decision.reason


def test_rules_come_from_the_study() -> None:
    strict = EscalationRules(urgent_at_grade=2, routine_at_grade=1, urgent_if_worse_by=1)
    assert (
        decide(symptom="cough", grade=2, previous_grade=None, rules=strict).level
        == EscalationLevel.URGENT
    )
    assert (
        decide(symptom="cough", grade=1, previous_grade=0, rules=strict).level
        == EscalationLevel.URGENT
    )
    assert (
        decide(symptom="cough", grade=1, previous_grade=1, rules=strict).level
        == EscalationLevel.ROUTINE
    )


def test_reason_names_the_scale_the_grade_came_from() -> None:
    severe = decide(symptom="headache", grade=4, previous_grade=None, rules=DEFAULTS)
    often = decide(
        symptom="diarrhea",
        grade=4,
        previous_grade=None,
        rules=DEFAULTS,
        graded_by=Attribute.FREQUENCY,
    )
    assert severe.reason == "headache: grade 4 (very severe)"
    assert often.reason == "diarrhea: grade 4 (frequency: almost all the time)"
    assert often.level is EscalationLevel.URGENT
