"""When a graded symptom becomes an escalation (the study config's rules, product defaults).

Defaults: severe or very severe (grade >= 3) -> urgent; worse by 2 or more points since the
participant's last report of that symptom -> urgent; moderate (grade 2) -> routine review.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.db.models import EscalationLevel
from bot.study.config import EscalationRules
from bot.study.pro_ctcae import SCALES, Attribute


@dataclass(frozen=True)
class AlertDecision:
    """The escalation a symptom grade calls for (level None: no escalation)."""

    level: EscalationLevel | None
    reason: str


def decide(
    *,
    symptom: str,
    grade: int | None,
    previous_grade: int | None,
    rules: EscalationRules,
    graded_by: Attribute = Attribute.SEVERITY,
) -> AlertDecision:
    """Apply the rules to one graded symptom, given the previous grade of the same symptom.

    `graded_by` is the attribute the grade came from (severity, or for symptoms PRO-CTCAE
    asks only about so, frequency or interference); the reason names its word. An answer
    that did not fit the scale (grade None) goes to staff for review.
    """
    name = symptom.replace("_", " ")
    if grade is None:
        return AlertDecision(EscalationLevel.ROUTINE, f"{name}: answer did not fit the scale")
    word = SCALES[graded_by].labels[grade]
    if graded_by is not Attribute.SEVERITY:
        word = f"{graded_by.value}: {word}"
    if grade >= rules.urgent_at_grade:
        return AlertDecision(EscalationLevel.URGENT, f"{name}: grade {grade} ({word})")
    if previous_grade is not None and grade - previous_grade >= rules.urgent_if_worse_by:
        return AlertDecision(
            EscalationLevel.URGENT,
            f"{name}: worse by {grade - previous_grade} points "
            f"(grade {previous_grade} -> {grade}, {word})",
        )
    if grade >= rules.routine_at_grade:
        return AlertDecision(EscalationLevel.ROUTINE, f"{name}: grade {grade} ({word})")
    return AlertDecision(None, f"{name}: grade {grade} ({word}), no alert")
