"""PRO-CTCAE answer scales (0-4) and reading a participant's answer on them.

Answers come as numbers ("3"), the scale's words ("severe"), everyday phrasings
("pretty bad", "a lil"), or a button's payload. Anything else reads as None, so the
form can ask again with an example.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Attribute(str, enum.Enum):
    """The PRO-CTCAE attributes a symptom can be asked about."""

    SEVERITY = "severity"
    FREQUENCY = "frequency"
    INTERFERENCE = "interference"


@dataclass(frozen=True)
class Scale:
    """A 5-point scale: the words for 0-4 and the phrasings that mean each point."""

    labels: tuple[str, str, str, str, str]
    phrasings: dict[str, int]


SEVERITY = Scale(
    labels=("none", "mild", "moderate", "severe", "very severe"),
    phrasings={
        # 0
        "none": 0, "no": 0, "nope": 0, "not at all": 0, "gone": 0, "its gone": 0,
        "fine": 0, "nothing": 0, "zero": 0,
        # 1
        "mild": 1, "a little": 1, "a lil": 1, "a bit": 1, "little": 1, "slight": 1,
        "slightly": 1, "not bad": 1, "not too bad": 1, "barely": 1, "light": 1, "one": 1,
        "meh": 1, "so so": 1, "so-so": 1, "ok": 1, "okay": 1,
        # 2
        "moderate": 2, "medium": 2, "kinda bad": 2, "kind of bad": 2, "sort of bad": 2,
        "middle": 2, "some": 2, "quite": 2, "two": 2, "in between": 2, "average": 2,
        "bad": 2, "mod": 2,
        # 3
        "severe": 3, "pretty bad": 3, "really bad": 3, "very bad": 3, "real bad": 3,
        "so bad": 3, "strong": 3, "a lot": 3, "alot": 3, "three": 3, "bad bad": 3,
        "super bad": 3, "horrible": 3,
        # 4
        "very severe": 4, "terrible": 4, "awful": 4, "unbearable": 4, "worst": 4,
        "the worst": 4, "extreme": 4, "extremely bad": 4, "cant stand it": 4,
        "can't stand it": 4, "four": 4, "excruciating": 4, "worst ever": 4,
    },
)  # fmt: skip

FREQUENCY = Scale(
    labels=("never", "rarely", "sometimes", "often", "almost all the time"),
    phrasings={
        "never": 0, "no": 0, "not at all": 0, "none": 0, "zero": 0,
        "rarely": 1, "rare": 1, "once": 1, "one time": 1, "hardly": 1, "hardly ever": 1,
        "not often": 1, "a little": 1, "once or twice": 1,
        "sometimes": 2, "occasionally": 2, "now and then": 2, "on and off": 2,
        "some": 2, "a few times": 2, "few times": 2,
        "often": 3, "frequently": 3, "a lot": 3, "alot": 3, "many times": 3,
        "lots": 3, "most days": 3, "usually": 3,
        "almost all the time": 4, "all the time": 4, "always": 4, "constantly": 4,
        "nonstop": 4, "non stop": 4, "constant": 4, "all day": 4, "24/7": 4,
    },
)  # fmt: skip

INTERFERENCE = Scale(
    labels=("not at all", "a little", "somewhat", "quite a bit", "very much"),
    phrasings={
        "not at all": 0, "no": 0, "none": 0, "nope": 0, "not really": 0, "zero": 0,
        "a little": 1, "a little bit": 1, "a lil": 1, "a bit": 1, "slightly": 1,
        "a tiny bit": 1, "not much": 1,
        "somewhat": 2, "some": 2, "kind of": 2, "kinda": 2, "sort of": 2, "medium": 2,
        "quite a bit": 3, "a lot": 3, "alot": 3, "quite a lot": 3, "yes": 3, "yeah": 3,
        "very much": 4, "completely": 4, "totally": 4, "cant do anything": 4,
        "can't do anything": 4, "couldnt do anything": 4, "stuck in bed": 4,
    },
)  # fmt: skip

SCALES = {
    Attribute.SEVERITY: SEVERITY,
    Attribute.FREQUENCY: FREQUENCY,
    Attribute.INTERFERENCE: INTERFERENCE,
}

_NUMBER = re.compile(r"^\s*([0-4])\s*(?:/\s*4|out of 4)?\s*[.!]*\s*$")
_CLEAN = re.compile(r"[^a-z0-9'/ -]+")


def _normalise(text: str) -> str:
    return " ".join(_CLEAN.sub(" ", text.lower().replace("\u2019", "'")).split())


def read_answer(attribute: Attribute, text: str) -> int | None:
    """The point (0-4) an answer means on the attribute's scale, or None if it does not fit."""
    match = _NUMBER.match(text)
    if match:
        return int(match.group(1))
    words = _normalise(text)
    if not words:
        return None
    phrasings = SCALES[attribute].phrasings
    if words in phrasings:
        return phrasings[words]
    # The longest known phrasing inside a longer answer ("its pretty bad today").
    padded = f" {words} "
    found = [(len(p), v) for p, v in phrasings.items() if len(p) > 2 and f" {p} " in padded]
    return max(found)[1] if found else None


def label(attribute: Attribute, point: int) -> str:
    """The scale's word for a point, e.g. severity 3 -> "severe"."""
    return SCALES[attribute].labels[point]
