"""Red-flag recall and false alarms on tests/nlp/safety_cases.yml (see its header)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from spacy.language import Language

from bot.nlp.analysis import RED_FLAG_CATEGORIES, red_flags_in

CASES: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "safety_cases.yml").read_text(encoding="utf8")
)


def _categories(nlp: Language, text: str) -> list[str]:
    """The red-flag categories raised by a message (processed as Rasa does: lower case)."""
    return [flag.category for flag in red_flags_in(nlp(text.lower()))]


def test_the_case_file_is_big_enough_and_well_formed() -> None:
    """At least 240 emergencies over every category, and at least 180 near misses."""
    emergencies = CASES["emergencies"]
    assert len(emergencies) >= 240
    assert len(CASES["near_misses"]) >= 180
    assert {case["category"] for case in emergencies} == set(RED_FLAG_CATEGORIES)


def test_every_emergency_is_caught_and_no_near_miss_fires(
    nlp: Language, figures: dict[str, str]
) -> None:
    """Recall on emergencies must be 100% and false alarms on near misses 0."""
    missed = [
        f"{case['text']!r} (expected {case['category']}, got {found})"
        for case in CASES["emergencies"]
        if case["category"] not in (found := _categories(nlp, case["text"]))
    ]
    alarms = [
        f"{text!r} raised {found}"
        for text in CASES["near_misses"]
        if (found := _categories(nlp, text))
    ]
    total, near = len(CASES["emergencies"]), len(CASES["near_misses"])
    figures["red-flag recall"] = f"{total - len(missed)}/{total} emergencies caught"
    figures["red-flag false alarms"] = f"{len(alarms)}/{near} near misses fired"
    assert not missed, "missed emergencies:\n" + "\n".join(missed)
    assert not alarms, "false alarms:\n" + "\n".join(alarms)


@pytest.mark.parametrize("text", CASES["fire_by_design"])
def test_hypothetical_questions_fire_by_design(nlp: Language, text: str) -> None:
    """Questions about what to do if an emergency happens fire (safety first)."""
    assert _categories(nlp, text), f"{text!r} raised nothing"
