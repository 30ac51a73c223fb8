"""The symptoms the project knows, read from the lexicon: names, labels, attributes.

    symptom_names()          # ("nausea", "vomiting", "diarrhea", ...)
    symptom_info("nausea")   # SymptomInfo("nausea", "feeling sick to your stomach",
                             #             ("frequency", "severity"))

No spaCy here, only lexicon/symptoms.yml: the action server asks about symptoms with
this (`bot.actions.symptoms`) and never loads the pipeline, nor spaCy, nor what spaCy
imports when it is installed (thinc imports TensorFlow: ~400 MiB). Finding symptoms in
a message's text is `bot.nlp.analysis` (the pipeline, inside Rasa).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

SYMPTOM_ATTRIBUTES: tuple[str, ...] = ("frequency", "severity", "interference")
_SYMPTOMS_FILE = Path(__file__).resolve().parent / "lexicon" / "symptoms.yml"


@dataclass(frozen=True)
class SymptomInfo:
    """How to ask about a symptom: a plain label and its PRO-CTCAE-style attributes."""

    name: str
    label: str
    attributes: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def _symptom_table() -> dict[str, SymptomInfo]:
    """Every symptom of the lexicon (read from lexicon/symptoms.yml, no pipeline needed)."""
    with _SYMPTOMS_FILE.open(encoding="utf8") as handle:
        data = yaml.safe_load(handle)
    return {
        name: SymptomInfo(name, info["label"], tuple(info["attributes"]))
        for name, info in data.items()
    }


def symptom_names() -> tuple[str, ...]:
    """The canonical names of every symptom in the lexicon."""
    return tuple(_symptom_table())


def symptom_info(name: str) -> SymptomInfo:
    """The plain label and attributes of one symptom; KeyError for an unknown name."""
    try:
        return _symptom_table()[name]
    except KeyError:
        raise KeyError(f"unknown symptom {name!r}") from None
