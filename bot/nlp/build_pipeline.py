"""Build the project's spaCy pipeline into a folder: `python -m bot.nlp.build_pipeline --out DIR`.

The pipeline is `spacy.blank("en")` + `trialbot_spelling` + `entity_ruler` (matching on
`NORM`) + `trialbot_negation`. Everything it needs at run time (tokenizer exceptions,
spelling vocabulary, patterns, negation triggers) is written into the folder, so
`spacy.load(DIR)` never reads `bot/nlp/lexicon`.

One folder serves English and Spanish at once (one Rasa model serves both languages, and
a message may mix them). `lexicon/*.yml` is the English lexicon and the canonical keys;
`lexicon/es/` holds the Spanish entries in files of the same names and shapes, merged
into the English ones by the build (`LANGUAGE_DIRS`): the same keys (red-flag
categories, symptom names, medication and body-part ids, negation lists), so a Spanish
red flag or symptom is the same category or symptom as its English twin. A Spanish file
may not set what only the English one sets (a symptom's label and attributes, the
negation settings); the red-flag and idiom keys are checked after the merge like the
English ones; medications, body parts and feelings may add keys of their own.
Why one English tokenizer: `spacy.blank("en")` splits a leading "¿" or "¡" off like any
punctuation and has no Spanish-specific rule a texted message needs, while
`spacy.blank("es")` or "xx" would lose the English contraction splits the English
lexicon relies on ("can't" -> "ca" + "n't" read "can not"); two infixes are
added so that they split off when typed against the word before too ("hola¿me duele el
pecho?", "bien,¿y usted?"), which spaCy's English rules leave as one token, and one for
a full stop with no space after it ("pecho.ayuda"). The
spelling step folds accents ("sí" = "si", "mareé" = "maree", "año" = "ano"), so Spanish
patterns are written without accents and match texts typed either way. spaCy's Spanish
stop words are protected from the fuzzy corrector like the English ones.

Lexicon entries use a small pattern notation (one string per pattern):

- `word word`: literal words (tokenised and normalised like any message);
- `(a|b c|)`: one of the alternatives (an empty one makes the group optional);
  `(a|b)?` is the same as `(a|b|)`;
- `*N`: up to N words of any kind inside one clause (never punctuation, "and"/"y" or a
  negation terminator such as "but"/"pero");
- `<many>`, `<ten>`, `<lots>`: a number of at least 5, 10, 15 (digits, English or
  Spanish words);
- `<med>`: a one-word medication word ("pills", "tylenol"); `<drug>`: a drug name only.

A notation without `*N` or `<...>` that stands for at most 400 phrases becomes phrase
patterns (fast); the others become token patterns on `NORM`, where one-word
alternatives share one `IN` set. The phrase lists of negation.yml may use the same
notation without `*N` or `<...>` ("(doctor|nurse) explained" is two trigger phrases).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import spacy
import yaml
from spacy.lang.char_classes import ALPHA, ALPHA_LOWER
from spacy.lang.es.stop_words import STOP_WORDS as SPANISH_STOP_WORDS
from spacy.language import Language
from spacy.util import compile_infix_regex

from bot.nlp.analysis import RED_FLAG_CATEGORIES
from bot.nlp.components import (
    IDIOM_LABEL,
    RED_FLAG_LABEL,
    SpellingNormalizer,
    SpellingVocabulary,
    fold_accents,
)

logger = logging.getLogger(__name__)

LEXICON_DIR = Path(__file__).resolve().parent / "lexicon"
# Other languages' lexicons (same file names under lexicon/<code>/), merged into English.
LANGUAGE_DIRS: tuple[str, ...] = ("es",)
PIPELINE_NAME = "trialbot_en"
PIPELINE_VERSION = "1.0.0"
MIN_TARGET_LENGTH = 4
MAX_PHRASES = 400
MAX_TOKEN_PATTERNS = 128

_ITEM = re.compile(
    r"\((?P<group>[^()]*)\)(?P<optional>\?)?|<(?P<macro>\w+)>|\*(?P<gap>\d)|[^\s()<>*]+"
)
_NEGATION_SETTINGS = frozenset(
    {
        "ruler",
        "ent_labels",
        "window",
        "not_current_labels",
        "not_current_exempt",
        "ended_exempt",
        "history_exempt",
    }
)
_NUMBER_WORDS = {
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "dozen": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "hundred": 100,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
    "diez": 10,
    "doce": 12,
    "docena": 12,
    "quince": 15,
    "veinte": 20,
    "treinta": 30,
    "cuarenta": 40,
    "cincuenta": 50,
    "cien": 100,
    "ciento": 100,
}
# Words that end a clause for `*N` besides the negation terminators.
_CLAUSE_JOINERS = frozenset({"and", "y"})


@dataclass(frozen=True)
class Gap:
    """Up to `size` words of any kind inside one clause."""

    size: int


@dataclass(frozen=True)
class Macro:
    """A named one-token pattern (`<many>`, `<med>`)."""

    name: str


Segment = tuple[str, ...] | Gap | Macro


@dataclass(frozen=True)
class LexiconEntry:
    """One pattern of the lexicon, in the pattern notation."""

    label: str
    key: str
    notation: str


@dataclass(frozen=True)
class BuildSummary:
    """What a build produced."""

    out: Path
    phrase_patterns: int
    token_patterns: int
    entries: dict[str, int]

    def line(self) -> str:
        """One short line for the command line."""
        counts = ", ".join(f"{n} {label}" for label, n in sorted(self.entries.items()))
        return (
            f"built {self.out}: {self.phrase_patterns} phrase + {self.token_patterns} token"
            f" patterns from lexicon entries ({counts})"
        )


# --- the pattern notation ---------------------------------------------------------------


def parse_notation(notation: str) -> list[Segment]:
    """Split a pattern string into literal groups, gaps and macros."""
    segments: list[Segment] = []
    for match in _ITEM.finditer(notation.lower()):
        if match.group("group") is not None:
            options = tuple(o.strip() for o in match.group("group").split("|"))
            segments.append((*options, "") if match.group("optional") else options)
        elif match.group("macro"):
            segments.append(Macro(match.group("macro")))
        elif match.group("gap"):
            segments.append(Gap(int(match.group("gap"))))
        else:
            segments.append((match.group(0),))
    return segments


def variant_count(segments: Sequence[Segment]) -> int:
    """How many phrases a notation stands for."""
    count = 1
    for segment in segments:
        count *= len(segment) if isinstance(segment, tuple) else 1
    return count


def phrases(notation: str) -> Iterator[str]:
    """Every phrase a notation without gaps or macros stands for."""
    groups = [s for s in parse_notation(notation) if isinstance(s, tuple)]
    if len(groups) != len(parse_notation(notation)):
        raise ValueError(f"not a plain phrase notation: {notation}")
    for combination in itertools.product(*groups):
        yield " ".join(str(word) for word in combination if word)


# --- lexicon files ----------------------------------------------------------------------


def _read_yaml(path: Path) -> Any:
    """Parse one YAML file."""
    with path.open(encoding="utf8") as handle:
        return yaml.safe_load(handle)


def read_lexicon(name: str, lexicon_dir: Path = LEXICON_DIR) -> Any:
    """One file of the lexicon: the English file with every language's file merged in."""
    merged = _read_yaml(lexicon_dir / name)
    for code in LANGUAGE_DIRS:
        path = lexicon_dir / code / name
        if path.is_file():
            merged = _merge(name, merged, _read_yaml(path) or {}, code)
    return merged


def _merge(name: str, base: Any, extra: dict[str, Any], code: str) -> Any:
    """`extra` (a language's file) merged into `base` (the English file), lists extended."""
    where = f"lexicon/{code}/{name}"
    merged = dict(base)
    for key, value in extra.items():
        if name == "symptoms.yml":
            if key not in base or set(value) != {"terms"}:
                raise ValueError(f"{where}: {key!r} must be an English symptom with terms only")
            merged[key] = {**base[key], "terms": [*base[key]["terms"], *value["terms"]]}
        elif name == "negation.yml" and key in _NEGATION_SETTINGS:
            raise ValueError(f"{where}: {key!r} is set by the English negation.yml only")
        elif isinstance(value, dict):
            table = dict(base.get(key, {}))
            for item, entry in value.items():
                if isinstance(entry, list) and isinstance(table.get(item, []), list):
                    table[item] = [*table.get(item, []), *entry]
                elif table.get(item, entry) != entry:
                    raise ValueError(f"{where}: {key}.{item} differs from the English entry")
                else:
                    table[item] = entry
            merged[key] = table
        else:
            merged[key] = [*base.get(key, []), *value]
    return merged


def lexicon_entries(lexicon_dir: Path = LEXICON_DIR) -> list[LexiconEntry]:
    """Every pattern of the lexicon with its label and canonical id."""
    entries: list[LexiconEntry] = []
    symptoms = read_lexicon("symptoms.yml", lexicon_dir)
    for key, info in symptoms.items():
        entries.extend(LexiconEntry("SYMPTOM", key, n) for n in info["terms"])
    for label, file_name in (
        ("BODY_PART", "body_parts.yml"),
        ("MEDICATION", "medications.yml"),
        ("DISTRESS", "distress.yml"),
        (RED_FLAG_LABEL, "red_flags.yml"),
        (IDIOM_LABEL, "idioms.yml"),
    ):
        for key, notations in read_lexicon(file_name, lexicon_dir).items():
            entries.extend(LexiconEntry(label, key, n) for n in notations)
    _check_red_flag_categories(entries)
    _check_idiom_keys(entries)
    return entries


def _check_red_flag_categories(entries: Iterable[LexiconEntry]) -> None:
    """Fail when red_flags.yml and RED_FLAG_CATEGORIES disagree."""
    found = {e.key for e in entries if e.label == RED_FLAG_LABEL}
    if found != set(RED_FLAG_CATEGORIES):
        raise ValueError(
            f"red_flags.yml categories {sorted(found)} != RED_FLAG_CATEGORIES"
            f" {sorted(RED_FLAG_CATEGORIES)}"
        )


def negation_config(lexicon_dir: Path = LEXICON_DIR) -> dict[str, Any]:
    """negation.yml as the negation component's config, phrase lists expanded from the notation."""
    config: dict[str, Any] = read_lexicon("negation.yml", lexicon_dir)
    return {
        key: value
        if key in _NEGATION_SETTINGS
        else list(dict.fromkeys(p for notation in value for p in phrases(str(notation))))
        for key, value in config.items()
    }


def _check_idiom_keys(entries: Sequence[LexiconEntry]) -> None:
    """Fail when an idiom names neither a red-flag category nor another label."""
    allowed = {*RED_FLAG_CATEGORIES, *(e.label for e in entries)} - {RED_FLAG_LABEL, IDIOM_LABEL}
    unknown = sorted({e.key for e in entries if e.label == IDIOM_LABEL} - allowed)
    if unknown:
        raise ValueError(f"idioms.yml keys {unknown} are neither red-flag categories nor labels")


def spelling_corrections(spelling: dict[str, Any]) -> dict[str, str]:
    """The misspelling -> normal form table (the YAML lists variants under each form).

    Keys and forms are folded like messages ("tambien" for "también"); a variant listed
    under two forms (say an English and a Spanish one) fails the build.
    """
    corrections: dict[str, str] = {}
    for norm, variants in spelling["corrections"].items():
        for variant in variants:
            key, form = fold_accents(str(variant).lower()), fold_accents(str(norm).lower())
            if corrections.get(key, form) != form:
                raise ValueError(
                    f"spelling.yml: {key!r} is listed under {corrections[key]!r} and {form!r}"
                )
            corrections[key] = form
    return corrections


def add_tokenizer_exceptions(nlp: Language, exceptions: dict[str, list[list[str]]]) -> None:
    """Split SMS contractions ("cnt", "dnt", "im") like spaCy splits "cant"."""
    for text, pieces in exceptions.items():
        for variant in {text, text.capitalize(), text.upper()}:
            parts, offset = [], 0
            for orth, norm in pieces:
                piece = variant[offset : offset + len(orth)]
                parts.append({"ORTH": piece, "NORM": norm})
                offset += len(orth)
            tokenizer: Any = nlp.tokenizer
            tokenizer.add_special_case(variant, parts)


# --- building ---------------------------------------------------------------------------


def _norms(nlp: Language, text: str) -> list[str]:
    """The normal forms of the tokens of `text` (tokenizer + spelling, as at run time)."""
    doc = nlp.get_pipe("trialbot_spelling")(nlp.make_doc(text))
    return [t.norm_ for t in doc]


def _segment_options(
    nlp: Language, segment: Segment, macros: dict[str, dict[str, Any]]
) -> list[list[dict[str, Any]]]:
    """The token sequences one segment can stand for (one-word alternatives share an IN)."""
    if isinstance(segment, Gap):
        return [[dict(macros["gap"]) for _ in range(segment.size)]]
    if isinstance(segment, Macro):
        return [[macros[segment.name]]]
    sequences = {tuple(_norms(nlp, alternative)) for alternative in segment if alternative}
    singles = sorted(seq[0] for seq in sequences if len(seq) == 1)
    options: list[list[dict[str, Any]]] = []
    if singles:
        spec: dict[str, Any] = {"NORM": singles[0] if len(singles) == 1 else {"IN": singles}}
        if "" in segment and len(singles) == len(sequences):
            return [[{**spec, "OP": "?"}]]
        options.append([spec])
    options.extend([{"NORM": norm} for norm in seq] for seq in sorted(sequences) if len(seq) > 1)
    if "" in segment:
        options.append([])
    return options


def token_patterns(
    nlp: Language, notation: str, macros: dict[str, dict[str, Any]]
) -> list[list[dict[str, Any]]]:
    """Token patterns on NORM for a notation (gaps, macros, or too many phrases)."""
    per_segment = [_segment_options(nlp, s, macros) for s in parse_notation(notation)]
    count = 1
    for options in per_segment:
        count *= len(options)
    if count > MAX_TOKEN_PATTERNS:
        raise ValueError(f"{notation!r} needs {count} token patterns (max {MAX_TOKEN_PATTERNS})")
    patterns = [
        [spec for option in combo for spec in option] for combo in itertools.product(*per_segment)
    ]
    for pattern in patterns:
        if all(spec.get("OP") == "?" for spec in pattern):
            raise ValueError(f"{notation!r} can match nothing")
    return patterns


def compile_notation(nlp: Language, notation: str, macros: dict[str, dict[str, Any]]) -> list[Any]:
    """Phrase patterns (strings) when few enough, else token patterns."""
    segments = parse_notation(notation)
    plain = all(isinstance(s, tuple) for s in segments)
    if plain and variant_count(segments) <= MAX_PHRASES:
        return list(dict.fromkeys(phrases(notation)))
    return list(token_patterns(nlp, notation, macros))


def compile_patterns(
    nlp: Language, entries: Iterable[LexiconEntry], macros: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Entity-ruler patterns for every lexicon entry (deduplicated, in lexicon order)."""
    patterns: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in entries:
        for body in compile_notation(nlp, entry.notation, macros):
            pattern = {"label": entry.label, "id": entry.key, "pattern": body}
            fingerprint = json.dumps(pattern, sort_keys=True)
            if fingerprint not in seen:
                seen.add(fingerprint)
                patterns.append(pattern)
    return patterns


def _pattern_words(nlp: Language, body: Any) -> Iterator[str]:
    """The normal forms of the literal words of one phrase or token pattern."""
    if isinstance(body, str):
        yield from _norms(nlp, body)
        return
    for spec in body:
        norm = spec.get("NORM")
        if isinstance(norm, str):
            yield norm
        elif isinstance(norm, dict) and "IN" in norm:
            yield from norm["IN"]


def lexicon_words(nlp: Language, patterns: Iterable[dict[str, Any]]) -> frozenset[str]:
    """Every word of the lexicon: real words the corrector must leave alone."""
    words: set[str] = set()
    for pattern in patterns:
        words.update(w for w in _pattern_words(nlp, pattern["pattern"]) if w.isalpha())
    return frozenset(words)


def stop_words(nlp: Language) -> frozenset[str]:
    """spaCy's English and Spanish stop words, accents folded (never corrected)."""
    words = {*nlp.Defaults.stop_words, *SPANISH_STOP_WORDS}
    return frozenset(fold_accents(w.lower()) for w in words if w.isalpha())


def fuzzy_targets(
    nlp: Language, patterns: Iterable[dict[str, Any]], wanted: Iterable[str]
) -> frozenset[str]:
    """The curated correction targets (spelling.yml), each checked to occur in the lexicon."""
    words: set[str] = set()
    for pattern in patterns:
        if pattern["label"] != IDIOM_LABEL:
            words.update(_pattern_words(nlp, pattern["pattern"]))
    targets = {_norms(nlp, str(w))[0] for w in wanted}
    missing = sorted(targets - words)
    if missing:
        raise ValueError(f"spelling.yml fuzzy_targets not in the lexicon: {missing}")
    return frozenset(t for t in targets if len(t) >= MIN_TARGET_LENGTH)


def _one_word_medications(
    nlp: Language, lexicon_dir: Path, exclude: frozenset[str] = frozenset()
) -> list[str]:
    """The normal forms of one-word medication names (for `<med>` and `<drug>`)."""
    words: set[str] = set()
    for key, notations in read_lexicon("medications.yml", lexicon_dir).items():
        if key in exclude:
            continue
        for notation in notations:
            for phrase in phrases(notation):
                norms = _norms(nlp, phrase)
                if len(norms) == 1:
                    words.add(norms[0])
    return sorted(words)


def _number_at_least(smallest: int) -> dict[str, Any]:
    """A token pattern for a number (digits or a word) from `smallest` (5 to 99) upwards."""
    tens, ones = divmod(smallest, 10)
    if tens == 0:
        digits = [f"[{ones}-9]", r"[1-9]\d"]
    else:
        digits = [f"{tens}[{ones}-9]"] + ([rf"[{tens + 1}-9]\d"] if tens < 9 else [])
    digits.append(r"[1-9]\d{2,}")
    words = [w for w, n in _NUMBER_WORDS.items() if n >= smallest]
    return {"NORM": {"REGEX": "^(?:" + "|".join(digits + words) + ")$"}}


def _macros(
    nlp: Language, negation: dict[str, Any], lexicon_dir: Path
) -> dict[str, dict[str, Any]]:
    """The one-token patterns behind `<many>`, `<ten>`, `<lots>`, `<med>`, `<drug>`, `*N`."""
    clause_words = sorted(set(negation["terminators"]) | _CLAUSE_JOINERS)
    generic = frozenset({"medicine", "inhaler", "study_drug"})
    return {
        "many": _number_at_least(5),
        "ten": _number_at_least(10),
        "lots": _number_at_least(15),
        "med": {"NORM": {"IN": _one_word_medications(nlp, lexicon_dir)}},
        "drug": {"NORM": {"IN": _one_word_medications(nlp, lexicon_dir, generic)}},
        "gap": {"OP": "?", "IS_PUNCT": False, "IS_SPACE": False, "NORM": {"NOT_IN": clause_words}},
    }


def split_inverted_marks(nlp: Language) -> None:
    """Split "¿" and "¡" off wherever they are typed ("hola¿me", "bien,¿y"), and a full
    stop typed with no space between two words ("pecho.ayuda", "chest pain.help me"),
    which spaCy splits only before a capital; single letters keep theirs ("p.m.", "e.g.")."""
    infixes = [
        *list(nlp.Defaults.infixes or []),
        r"[¿¡]",
        rf"(?<=[{ALPHA}])[,;:](?=[¿¡])",
        rf"(?<=[{ALPHA_LOWER}]{{2}})\.(?=[{ALPHA_LOWER}]{{2}})",
    ]
    tokenizer: Any = nlp.tokenizer
    tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    # spaCy keeps a web-address look-alike ("pain.help", "pecho.ayuda") whole before it
    # splits infixes; participants do not text web addresses, but they do type that way.
    tokenizer.url_match = None


def _blank_with_spelling(spelling: dict[str, Any]) -> tuple[Language, SpellingNormalizer]:
    """A blank English pipeline with SMS contractions and the fixed spelling table."""
    nlp = spacy.blank("en")
    split_inverted_marks(nlp)
    add_tokenizer_exceptions(nlp, spelling["tokenizer_exceptions"])
    normalizer = cast(SpellingNormalizer, nlp.add_pipe("trialbot_spelling"))
    normalizer.configure(
        SpellingVocabulary(
            corrections=spelling_corrections(spelling),
            protected=frozenset(fold_accents(str(w).lower()) for w in spelling["protected"]),
        )
    )
    return nlp, normalizer


def _summary(
    out: Path, patterns: list[dict[str, Any]], entries: list[LexiconEntry]
) -> BuildSummary:
    """Counts for the one-line report."""
    phrase = sum(isinstance(p["pattern"], str) for p in patterns)
    labels: dict[str, int] = {}
    for entry in entries:
        labels[entry.label] = labels.get(entry.label, 0) + 1
    return BuildSummary(out, phrase, len(patterns) - phrase, labels)


def build(out: Path, lexicon_dir: Path = LEXICON_DIR) -> BuildSummary:
    """Build the pipeline from the lexicon and write it to `out`."""
    spelling = read_lexicon("spelling.yml", lexicon_dir)
    negation = negation_config(lexicon_dir)
    nlp, normalizer = _blank_with_spelling(spelling)
    entries = lexicon_entries(lexicon_dir)
    patterns = compile_patterns(nlp, entries, _macros(nlp, negation, lexicon_dir))
    vocabulary = normalizer.vocabulary
    vocabulary.targets = fuzzy_targets(nlp, patterns, spelling["fuzzy_targets"])
    vocabulary.protected |= lexicon_words(nlp, patterns) | stop_words(nlp)
    normalizer.configure(vocabulary)
    logger.debug(
        "spelling: %d corrections, %d targets, %d protected words",
        len(vocabulary.corrections),
        len(vocabulary.targets),
        len(vocabulary.protected),
    )
    ruler: Any = nlp.add_pipe(
        "entity_ruler",
        config={"phrase_matcher_attr": "NORM", "validate": True, "overwrite_ents": True},
    )
    ruler.add_patterns(patterns)
    nlp.add_pipe("trialbot_negation", config=negation)
    nlp.meta.update(
        {
            "name": PIPELINE_NAME,
            "version": PIPELINE_VERSION,
            "description": "Trial Companion: lay symptom lexicon, red flags, negation.",
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out)
    return _summary(out, patterns, entries)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    args = parser.parse_args(argv)
    summary = build(args.out)
    print(summary.line())  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
