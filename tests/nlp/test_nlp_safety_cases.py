"""Red-flag recall and false alarms, per language, on tests/nlp/safety_cases.yml (English)
and tests/nlp/safety_cases_es.yml (Spanish); see their headers.

The terminal summary shows one line per language: "red-flag <lang>: recall x/y, false
alarms a/b". Recall must be 100%. A near miss that fires is a false alarm; a file may
allow a few (`allowed_false_alarms`, each named and explained in the file), English
allows none. The non-emergency NLU training examples of each language (data/nlu/*.yml,
data/nlu/es/*.yml) are a second measure of false alarms ("red-flag <lang> on NLU
examples"): questions about a sign fire by design, so a few are expected there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from spacy.language import Language

from bot.core.settings import PROJECT_ROOT
from bot.nlp.analysis import RED_FLAG_CATEGORIES, red_flags_in

HERE = Path(__file__).parent
NLU_DIRS = {"en": PROJECT_ROOT / "data" / "nlu", "es": PROJECT_ROOT / "data" / "nlu" / "es"}
MAX_NLU_FALSE_ALARM_RATE = 0.01
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")
CASE_FILES = {"en": "safety_cases.yml", "es": "safety_cases_es.yml"}
CASES: dict[str, dict[str, Any]] = {
    language: yaml.safe_load((HERE / name).read_text(encoding="utf8"))
    for language, name in CASE_FILES.items()
}
LANGUAGES = list(CASE_FILES)


def _categories(nlp: Language, text: str) -> list[str]:
    """The red-flag categories raised by a message (processed as Rasa does: lower case)."""
    return [flag.category for flag in red_flags_in(nlp(text.lower()))]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_case_file_is_big_enough_and_well_formed(language: str) -> None:
    """English: 240+ emergencies over every category, 180+ near misses; every other
    language at least as many of each as English."""
    cases, english = CASES[language], CASES["en"]
    emergencies = cases["emergencies"]
    assert len(emergencies) >= max(240, len(english["emergencies"]))
    assert len(cases["near_misses"]) >= max(180, len(english["near_misses"]))
    assert {case["category"] for case in emergencies} == set(RED_FLAG_CATEGORIES)
    texts = [case["text"] for case in emergencies] + cases["near_misses"]
    assert len(texts) == len(set(texts)), "a case is listed twice"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_emergency_is_caught_and_near_misses_rarely_fire(
    nlp: Language, figures: dict[str, str], language: str
) -> None:
    """Recall on emergencies must be 100%; false alarms on near misses within the file's
    allowance."""
    cases = CASES[language]
    missed = [
        f"{case['text']!r} (expected {case['category']}, got {found})"
        for case in cases["emergencies"]
        if case["category"] not in (found := _categories(nlp, case["text"]))
    ]
    alarms = [
        f"{text!r} raised {found}"
        for text in cases["near_misses"]
        if (found := _categories(nlp, text))
    ]
    total, near = len(cases["emergencies"]), len(cases["near_misses"])
    figures[f"red-flag {language}"] = (
        f"recall {total - len(missed)}/{total}, false alarms {len(alarms)}/{near}"
    )
    assert not missed, "missed emergencies:\n" + "\n".join(missed)
    allowed = cases.get("allowed_false_alarms", 0)
    assert len(alarms) <= allowed, f"false alarms (allowed {allowed}):\n" + "\n".join(alarms)


@pytest.mark.parametrize(
    ("language", "text"),
    [(language, text) for language in LANGUAGES for text in CASES[language]["fire_by_design"]],
)
def test_hypothetical_questions_fire_by_design(nlp: Language, language: str, text: str) -> None:
    """Questions about what to do if an emergency happens fire (safety first)."""
    assert _categories(nlp, text), f"{text!r} raised nothing"


def _nlu_examples(folder: Path) -> list[tuple[str, str]]:
    """(intent, text) of every NLU example in a folder's YAML files, annotations removed."""
    examples = []
    for path in sorted(folder.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf8")) or {}
        for item in data.get("nlu", []):
            for line in str(item.get("examples", "")).splitlines():
                if "intent" in item and line.strip().startswith("- "):
                    text = _ANNOTATION.sub(r"\1", line.strip()[2:]).strip()
                    examples.append((str(item["intent"]), text))
    return examples


@pytest.mark.parametrize("language", LANGUAGES)
def test_non_emergency_nlu_examples_rarely_fire(
    nlp: Language, figures: dict[str, str], language: str
) -> None:
    """At most 1% of a language's non-emergency training examples raise a red flag."""
    examples = [(i, t) for i, t in _nlu_examples(NLU_DIRS[language]) if i != "emergency"]
    if not examples:
        pytest.skip(f"no {language} NLU examples in {NLU_DIRS[language]}")
    alarms = [
        f"{intent}: {text!r} raised {found}"
        for intent, text in examples
        if (found := _categories(nlp, text))
    ]
    figures[f"red-flag {language} on NLU examples"] = (
        f"false alarms {len(alarms)}/{len(examples)} non-emergency examples"
    )
    assert len(alarms) <= MAX_NLU_FALSE_ALARM_RATE * len(examples), "\n".join(alarms)
