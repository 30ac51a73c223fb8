"""PRO-CTCAE answer scales (0-4) and reading a participant's answer on them.

Answers come as numbers ("3"), the scale's words ("severe", "severo"), everyday phrasings
("pretty bad", "a lil", "bien feo", "un chin"), or a button's payload, in English or
Spanish (accents optional). Anything else reads as None, so the form can ask again with an
example. One table per scale holds both languages: English and Spanish words rarely clash,
and where they are spelled the same ("no", "horrible", "terrible") they keep the English
reading.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from bot.core.languages import SPANISH
from bot.core.text import fold_accents


class Attribute(str, enum.Enum):
    """The PRO-CTCAE attributes a symptom can be asked about."""

    SEVERITY = "severity"
    FREQUENCY = "frequency"
    INTERFERENCE = "interference"


Labels = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class Scale:
    """A 5-point scale: its words for 0-4 in English and Spanish, and what each phrasing means.

    The Spanish labels are PRO-CTCAE's Spanish wording of the scale.
    """

    labels: Labels
    labels_es: Labels
    phrasings: dict[str, int]
    phrasings_es: dict[str, int]

    def readings(self) -> dict[str, int]:
        """Every phrasing (accents folded) and its point; English wins a shared spelling."""
        return {fold_accents(p): v for p, v in {**self.phrasings_es, **self.phrasings}.items()}


# Number words every scale understands ("tres"; English ones are in each table).
SPANISH_NUMBERS = {"cero": 0, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4}

SEVERITY = Scale(
    labels=("none", "mild", "moderate", "severe", "very severe"),
    labels_es=("nada", "leve", "moderado", "severo", "muy severo"),
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
    phrasings_es={
        **SPANISH_NUMBERS,
        # 0
        "nada": 0, "ninguno": 0, "ninguna": 0, "nop": 0, "nel": 0, "para nada": 0,
        "nada de nada": 0, "ya no": 0, "ya se me quito": 0, "ya paso": 0,
        # 1
        "leve": 1, "poco": 1, "un poco": 1, "poquito": 1, "un poquito": 1, "un chin": 1,
        "un chinito": 1, "tantito": 1, "un tantito": 1, "ligero": 1, "ligera": 1,
        "suave": 1, "casi nada": 1, "apenas": 1, "no mucho": 1, "no tanto": 1,
        "no muy fuerte": 1, "no tan fuerte": 1, "no fue fuerte": 1, "no es fuerte": 1,
        "nada fuerte": 1, "no tan feo": 1, "no muy mal": 1, "no tan mal": 1,
        # 2
        "moderado": 2, "moderada": 2, "medio": 2, "mediano": 2, "mediana": 2,
        "regular": 2, "mas o menos": 2, "masomenos": 2, "maso": 2, "algo": 2, "mal": 2,
        "medio fuerte": 2, "medio feo": 2, "feo": 2, "algo fuerte": 2,
        # 3
        "severo": 3, "severa": 3, "fuerte": 3, "muy fuerte": 3, "bien fuerte": 3,
        "bien feo": 3, "muy feo": 3, "muy mal": 3, "bien mal": 3, "mucho": 3,
        "bastante": 3, "grave": 3, "horrible": 3, "bien horrible": 3, "un chingo": 3,
        # 4
        "muy severo": 4, "muy severa": 4, "insoportable": 4, "lo peor": 4, "muchisimo": 4,
        "demasiado": 4, "no lo aguanto": 4, "no aguanto": 4, "no se aguanta": 4,
        "fatal": 4, "espantoso": 4, "malisimo": 4, "terrible": 4, "horrible horrible": 4,
        "lo mas fuerte": 4, "el peor": 4, "la peor": 4,
    },
)  # fmt: skip

FREQUENCY = Scale(
    labels=("never", "rarely", "sometimes", "often", "almost all the time"),
    labels_es=("nunca", "rara vez", "algunas veces", "frecuentemente", "casi siempre"),
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
    phrasings_es={
        **SPANISH_NUMBERS,
        "nunca": 0, "ninguna vez": 0, "ni una vez": 0, "nada": 0, "nop": 0, "nel": 0,
        "rara vez": 1, "casi nunca": 1, "pocas veces": 1, "una vez": 1, "una sola vez": 1,
        "una o dos veces": 1, "poco": 1, "un poco": 1, "poquito": 1, "un chin": 1,
        "algunas veces": 2, "a veces": 2, "aveces": 2, "unas veces": 2, "unas cuantas veces": 2,
        "de vez en cuando": 2, "algunos dias": 2, "mas o menos": 2, "masomenos": 2,
        "frecuentemente": 3, "frecuente": 3, "seguido": 3, "muy seguido": 3,
        "muchas veces": 3, "mucho": 3, "bastante": 3, "a menudo": 3, "un chingo": 3,
        "casi todos los dias": 3, "casi diario": 3,
        "casi siempre": 4, "siempre": 4, "todo el tiempo": 4, "todo el dia": 4,
        "todos los dias": 4, "diario": 4, "a cada rato": 4, "sin parar": 4, "a toda hora": 4,
    },
)  # fmt: skip

INTERFERENCE = Scale(
    labels=("not at all", "a little", "somewhat", "quite a bit", "very much"),
    labels_es=("nada", "un poco", "algo", "bastante", "muchísimo"),
    phrasings={
        "not at all": 0, "no": 0, "none": 0, "nope": 0, "not really": 0, "zero": 0,
        "a little": 1, "a little bit": 1, "a lil": 1, "a bit": 1, "slightly": 1,
        "a tiny bit": 1, "not much": 1,
        "somewhat": 2, "some": 2, "kind of": 2, "kinda": 2, "sort of": 2, "medium": 2,
        "quite a bit": 3, "a lot": 3, "alot": 3, "quite a lot": 3, "yes": 3, "yeah": 3,
        "very much": 4, "completely": 4, "totally": 4, "cant do anything": 4,
        "can't do anything": 4, "couldnt do anything": 4, "stuck in bed": 4,
    },
    phrasings_es={
        **SPANISH_NUMBERS,
        "nada": 0, "para nada": 0, "en nada": 0, "nop": 0, "nel": 0, "ninguno": 0,
        "nada de nada": 0, "no me estorbo": 0, "no me afecto": 0,
        "un poco": 1, "poco": 1, "poquito": 1, "un poquito": 1, "un chin": 1, "tantito": 1,
        "casi nada": 1, "no mucho": 1, "no tanto": 1,
        "algo": 2, "mas o menos": 2, "masomenos": 2, "maso": 2, "regular": 2, "medio": 2,
        "bastante": 3, "mucho": 3, "si": 3, "si mucho": 3, "bastantito": 3, "un chingo": 3,
        "muchisimo": 4, "demasiado": 4, "no pude hacer nada": 4, "no podia hacer nada": 4,
        "no pude hacer mis cosas": 4, "en cama": 4, "en la cama": 4, "todo el dia en cama": 4,
        "no me pude levantar": 4,
    },
)  # fmt: skip

SCALES = {
    Attribute.SEVERITY: SEVERITY,
    Attribute.FREQUENCY: FREQUENCY,
    Attribute.INTERFERENCE: INTERFERENCE,
}

_NUMBER = re.compile(r"^\s*([0-4])\s*(?:/\s*4|out of 4|de 4)?\s*[.!]*\s*$")
_CLEAN = re.compile(r"[^a-z0-9'/ -]+")
_READINGS = {attribute: scale.readings() for attribute, scale in SCALES.items()}


def _normalise(text: str) -> str:
    """Lower case, no accents, no punctuation but apostrophes (so "¡Muchísimo!" -> "muchisimo")."""
    folded = fold_accents(text.lower().replace("\u2019", "'"))
    return " ".join(_CLEAN.sub(" ", folded).split())


def read_answer(attribute: Attribute, text: str) -> int | None:
    """The point (0-4) an answer means on the attribute's scale, or None if it does not fit."""
    match = _NUMBER.match(text)
    if match:
        return int(match.group(1))
    words = _normalise(text)
    if not words:
        return None
    phrasings = _READINGS[attribute]
    if words in phrasings:
        return phrasings[words]
    # The longest known phrasing inside a longer answer ("its pretty bad today").
    padded = f" {words} "
    found = [(len(p), v) for p, v in phrasings.items() if len(p) > 2 and f" {p} " in padded]
    return max(found)[1] if found else None


def is_scale_answer(text: str) -> bool:
    """True when the whole message is a known phrasing of one of the scales ("pretty bad",
    "a veces", "un poco"): an answer to a check-in question, whatever else it could be."""
    words = _normalise(text)
    return any(words in readings for readings in _READINGS.values())


def label(attribute: Attribute, point: int, language: str = "en") -> str:
    """The scale's word for a point in a language, e.g. severity 3 -> "severe" / "severo"."""
    scale = SCALES[attribute]
    return (scale.labels_es if language == SPANISH else scale.labels)[point]
