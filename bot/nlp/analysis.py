"""What the rest of the project uses from the spaCy pipeline: symptoms and red flags.

    nlp = load_pipeline(DEFAULT_PIPELINE_DIR)
    doc = nlp(text)
    red_flags_in(doc)   # [RedFlag(category="chest_pain", text="chest feels crushed")]
    symptoms_in(doc)    # [SymptomMention(symptom="headache", ...)]

Red flags (`doc.spans["red_flags"]`) and symptoms (`doc.spans["symptoms"]`) are found
independently: a red flag is never lost to an overlapping symptom, and `symptoms_in` may
still report the symptom behind a red flag ("cant breathe" gives the red flag
`breathing` and the symptom `shortness_of_breath`; "crushing chest pain" gives
`chest_pain` and the general symptom `pain`). `doc.ents` (what Rasa sees) holds the
non-negated SYMPTOM, BODY_PART and MEDICATION spans without overlaps.

The symptoms' labels and attributes (`symptom_info`) are `bot.nlp.symptoms`: no spaCy.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from bot.nlp.components import RED_FLAG_SPANS, SYMPTOM_SPANS

RED_FLAG_CATEGORIES: tuple[str, ...] = (
    "chest_pain",
    "breathing",
    "throat_swelling",
    "stroke",
    "fainting",
    "seizure",
    "heavy_bleeding",
    "blood_cough_vomit",
    "overdose",
    "self_harm",
    "worst_headache",
)
DEFAULT_PIPELINE_DIR = Path(__file__).resolve().parents[2] / "build" / "spacy" / "trialbot_en"


@dataclass(frozen=True)
class SymptomMention:
    """A symptom the participant reports (not negated)."""

    symptom: str
    text: str
    start_char: int
    end_char: int


@dataclass(frozen=True)
class RedFlag:
    """An emergency sign in a message (not negated)."""

    category: str
    text: str


@functools.lru_cache(maxsize=8)
def _load(resolved: str) -> Language:
    """Load one pipeline folder (cached by resolved path)."""
    return spacy.load(resolved)


def load_pipeline(path: Path | str) -> Language:
    """The built pipeline in `path`, loaded once per process."""
    return _load(str(Path(path).resolve()))


def _require_pipeline(doc: Doc) -> None:
    """Refuse a doc our pipeline did not process: silence must never mean "no red flag"."""
    if RED_FLAG_SPANS not in doc.spans or SYMPTOM_SPANS not in doc.spans:
        raise ValueError("doc was not processed by the trialbot pipeline (no red-flag spans)")


def symptoms_in(doc: Doc) -> list[SymptomMention]:
    """Non-negated symptoms, one per symptom (its first mention), in text order."""
    _require_pipeline(doc)
    seen: dict[str, SymptomMention] = {}
    for span in sorted(doc.spans[SYMPTOM_SPANS], key=lambda s: (s.start, s.end)):
        if span.id_ not in seen:
            seen[span.id_] = SymptomMention(span.id_, span.text, span.start_char, span.end_char)
    return list(seen.values())


def red_flags_in(doc: Doc) -> list[RedFlag]:
    """Non-negated red flags, one per category (its first mention), in text order."""
    _require_pipeline(doc)
    seen: dict[str, RedFlag] = {}
    for span in sorted(doc.spans[RED_FLAG_SPANS], key=lambda s: (s.start, s.end)):
        if span.id_ not in seen:
            seen[span.id_] = RedFlag(span.id_, span.text)
    return list(seen.values())
