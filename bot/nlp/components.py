"""spaCy components of the project's pipeline (registered through entry points).

`trialbot_spelling` writes a corrected lower-case form into `token.norm_`, accents and
other diacritics removed ("sí" and "si", "mareé" and "maree", "año" and "ano" read alike, so
Spanish texted with or without accents meets one pattern; English words have none): a
fixed table of SMS abbreviations and misspellings first, then a bounded edit distance: one
Damerau-Levenshtein edit, for tokens of five letters or more, towards a curated list of
lexicon words (symptom and emergency words), keeping the first letter, and never
changing a protected real word ("cooking" stays "cooking", not "choking"). The entity
ruler matches on `NORM`, so "vomitting", "chset" or "nausious" still match the lexicon.

`trialbot_negation` runs after the entity ruler. It takes every ruler match (the ruler
itself drops overlapping matches, which could hide a red flag), drops matches that
overlap a figure of speech (label `IDIOM`, id = the label or the red-flag category it
cancels), and applies NegEx-style negation with ConText-style "not current" cues for
red flags (a topic: "seizure meds", "heart attack risk", in Spanish order a medicine or
topic noun and a preposition before it: "pastillas para las convulsiones"; a past one:
"my last seizure"). The trigger lists hold English and Spanish cues alike
(lexicon/negation.yml and lexicon/es/negation.yml). The result:

- `doc.ents`: non-negated SYMPTOM, BODY_PART and MEDICATION spans, no overlaps (what
  Rasa's `SpacyEntityExtractor` reads);
- `doc.spans["red_flags"]`: non-negated RED_FLAG spans (`span.id_` is the category);
  overlaps with `doc.ents` are allowed, so a red flag is never lost;
- `doc.spans["symptoms"]`: non-negated SYMPTOM spans, partial overlaps kept ("upset
  stomach ache" is nausea and stomach pain), spans inside a longer one dropped;
- `doc.spans["negated"]`: every negated span of any label.

No `from __future__ import annotations` here: spaCy validates factory signatures with
pydantic, which needs real (not string) annotations.
"""

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span, Token

RED_FLAG_LABEL = "RED_FLAG"
IDIOM_LABEL = "IDIOM"
SYMPTOM_LABEL = "SYMPTOM"
MEDICATION_LABEL = "MEDICATION"
RED_FLAG_SPANS = "red_flags"
SYMPTOM_SPANS = "symptoms"
NEGATED_SPANS = "negated"
SPELLING_FILE = "spelling.json"

_MAX_CACHE = 50_000


# --- spelling --------------------------------------------------------------------------


def _deletions(word: str) -> Iterator[str]:
    """Every string made by deleting one character of `word`."""
    return (word[:i] + word[i + 1 :] for i in range(len(word)))


def within_one_edit(a: str, b: str) -> bool:
    """True when `a` and `b` differ by at most one insertion, deletion, substitution or swap."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diffs) == 1:
            return True
        i = diffs[0]
        return len(diffs) == 2 and diffs[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


_TRIPLE = re.compile(r"(.)\1{2,}")


def fold_accents(text: str) -> str:
    """`text` without accents and other diacritics ("mareé" -> "maree", "ñ" -> "n")."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


@dataclass
class SpellingVocabulary:
    """What the spelling normaliser knows: fixed corrections, fuzzy targets, protected words."""

    corrections: dict[str, str] = field(default_factory=dict)
    targets: frozenset[str] = frozenset()
    protected: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready, deterministic form."""
        return {
            "corrections": dict(sorted(self.corrections.items())),
            "targets": sorted(self.targets),
            "protected": sorted(self.protected),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SpellingVocabulary":
        """The inverse of `to_json`."""
        return cls(
            corrections=dict(data["corrections"]),
            targets=frozenset(data["targets"]),
            protected=frozenset(data["protected"]),
        )


class SpellingNormalizer:
    """Writes a corrected lower-case form of each token into `token.norm_`."""

    def __init__(self, name: str, min_length: int) -> None:
        """Create an empty normaliser; `configure` or `from_disk` fills it."""
        self.name = name
        self.min_length = min_length
        self.vocabulary = SpellingVocabulary()
        self._index: dict[str, set[str]] = {}
        self._known: frozenset[str] = frozenset()
        self._cache: dict[str, str] = {}

    def configure(self, vocabulary: SpellingVocabulary) -> None:
        """Replace the vocabulary and rebuild the fuzzy index."""
        self.vocabulary = vocabulary
        self._index = {}
        for target in vocabulary.targets:
            self._index.setdefault(target, set()).add(target)
            for deleted in _deletions(target):
                self._index.setdefault(deleted, set()).add(target)
        self._known = frozenset(
            vocabulary.targets
            | vocabulary.protected
            | set(vocabulary.corrections)
            | set(vocabulary.corrections.values())
        )
        self._cache = {}

    def __call__(self, doc: Doc) -> Doc:
        """Set `token.norm_` (and `token.lemma_`) to each token's corrected lower-case form.

        Rasa's SpacyTokenizer passes `lemma_` on, and its CountVectorsFeaturizer counts
        lemmas, so the intent model sees "medicine" where the participant typed "medicen".
        """
        for token in doc:
            norm = self._norm(token)
            if norm != token.norm_:
                token.norm_ = norm
            token.lemma_ = norm
        return doc

    def _norm(self, token: Token) -> str:
        """The normal form of one token (accents folded).

        A piece of a split contraction keeps the normal form the tokenizer gave it (the
        "d" of "dnt" is "do", though a lone "d" is the Spanish SMS form of "de").
        """
        if token.norm_ != token.lower_:
            return fold_accents(token.norm_)
        lower = fold_accents(token.lower_)
        fixed = self.vocabulary.corrections.get(lower)
        if fixed is not None:
            return fixed
        if not token.is_alpha:
            return lower
        return self.normalize(lower)

    def normalize(self, word: str) -> str:
        """The normal form of one lower-case alphabetic word (cached)."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        if len(self._cache) > _MAX_CACHE:
            self._cache.clear()
        result = self._normalize_uncached(word)
        self._cache[word] = result
        return result

    def _normalize_uncached(self, word: str) -> str:
        """Collapse letter runs ("sooo"), then correct a one-edit typo of a lexicon word."""
        word = self._collapse(word)
        fixed = self.vocabulary.corrections.get(word)
        if fixed is not None:
            return fixed
        if len(word) < self.min_length or word in self._known:
            return word
        return self._closest_target(word) or word

    def _collapse(self, word: str) -> str:
        """Undo letter stretching: "paaain" -> "pain", "sooo" -> "so", "sleeeep" -> "sleep"."""
        if not _TRIPLE.search(word):
            return word
        double = _TRIPLE.sub(r"\1\1", word)
        return double if double in self._known else _TRIPLE.sub(r"\1", word)

    def _closest_target(self, word: str) -> str | None:
        """The one target one edit away with the same first letter (a same-length one if
        several), or None."""
        candidates: set[str] = set(self._index.get(word, ()))
        for deleted in _deletions(word):
            candidates.update(self._index.get(deleted, ()))
        matches = [c for c in candidates if c[0] == word[0] and within_one_edit(word, c)]
        if len(matches) > 1:
            matches = [c for c in matches if len(c) == len(word)]
        return matches[0] if len(matches) == 1 else None

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        """Serialise the vocabulary."""
        return json.dumps(self.vocabulary.to_json(), sort_keys=True, indent=0).encode("utf8")

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> "SpellingNormalizer":
        """Load the vocabulary from `to_bytes` output."""
        self.configure(SpellingVocabulary.from_json(json.loads(data.decode("utf8"))))
        return self

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Write the vocabulary into the component's folder."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SPELLING_FILE).write_bytes(self.to_bytes())

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "SpellingNormalizer":
        """Read the vocabulary from the component's folder."""
        return self.from_bytes((Path(path) / SPELLING_FILE).read_bytes())


@Language.factory(
    "trialbot_spelling",
    default_config={"min_length": 5},
    assigns=["token.norm"],
)
def make_spelling_normalizer(nlp: Language, name: str, min_length: int) -> SpellingNormalizer:
    """Create the spelling normaliser (its vocabulary is loaded from disk or configured)."""
    return SpellingNormalizer(name, min_length)


# --- negation --------------------------------------------------------------------------

_PRE = "PRE"
_POST = "POST"
_PSEUDO = "PSEUDO"
_TERMINATOR = "TERMINATOR"
_AFFIRM = "AFFIRM"
_REVIVE = "REVIVE"
_NOT_CURRENT_PRE = "NOT_CURRENT_PRE"
_NOT_CURRENT_POST = "NOT_CURRENT_POST"
_TOPIC = "TOPIC"
_ENDED_PRE = "ENDED_PRE"
_ENDED_POST = "ENDED_POST"
_HISTORY_PRE = "HISTORY_PRE"
_HISTORY_POST = "HISTORY_POST"
_TOPIC_BEFORE = "TOPIC_BEFORE"
_TOPIC_PREP = "TOPIC_PREP"
_PAST_ADJECTIVE = "PAST_ADJECTIVE"
_PAST_TIME = "PAST_TIME"
_COMPARISON = "COMPARISON"
_JOINING_PUNCT = frozenset({"/", "&", "'", '"'})
# The trigger lists that apply to a mention only where its category allows them, in the
# order of the key of `NegationMarker._cues`: history, "it is over", "not current".
_CONDITIONAL_TRIGGERS = (
    (_HISTORY_PRE, _HISTORY_POST),
    (_ENDED_PRE, _ENDED_POST),
    (_NOT_CURRENT_PRE, _NOT_CURRENT_POST),
)
_TRIGGER_LABELS = (_PRE, _POST, *(label for pair in _CONDITIONAL_TRIGGERS for label in pair))


@dataclass(frozen=True)
class _Mention:
    """One candidate span from the entity ruler."""

    label: str
    key: str
    start: int
    end: int

    @property
    def length(self) -> int:
        """Number of tokens."""
        return self.end - self.start

    def overlaps(self, other: "_Mention") -> bool:
        """True when the two mentions share a token."""
        return self.start < other.end and other.start < self.end


@dataclass
class _Cues:
    """Negation cues found in one doc, by token index."""

    pre_by_end: dict[int, int] = field(default_factory=dict)
    post_by_start: dict[int, int] = field(default_factory=dict)
    terminators: set[int] = field(default_factory=set)
    affirmations: set[int] = field(default_factory=set)
    revivals: set[int] = field(default_factory=set)
    topic_starts: set[int] = field(default_factory=set)
    topic_prep_by_end: dict[int, int] = field(default_factory=dict)
    topic_noun_by_end: dict[int, int] = field(default_factory=dict)
    past_adjective_by_end: dict[int, int] = field(default_factory=dict)
    past_times: set[int] = field(default_factory=set)
    comparison_by_end: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class NegationSettings:
    """Trigger lists and scope rules (the component's config, from lexicon/negation.yml)."""

    ruler: str
    ent_labels: frozenset[str]
    window: int
    phrases: dict[str, list[str]]
    connectors: frozenset[str]
    modals: frozenset[str]
    inability_verbs: frozenset[str]
    post_invalidators: frozenset[str]
    unless_after_inability: frozenset[str]
    not_current_labels: frozenset[str]
    not_current_exempt: frozenset[str]
    ended_exempt: frozenset[str]
    history_exempt: frozenset[str]
    event_words: frozenset[str]


def _resolve_overlaps(mentions: Iterable[_Mention]) -> list[_Mention]:
    """Keep the longest mention of each overlapping group (earliest on ties)."""
    kept: list[_Mention] = []
    for mention in sorted(mentions, key=lambda m: (-m.length, m.start, m.label, m.key)):
        if not any(mention.overlaps(k) for k in kept):
            kept.append(mention)
    return sorted(kept, key=lambda m: m.start)


def _resolve_red_flags(mentions: Iterable[_Mention]) -> list[_Mention]:
    """Resolve overlaps within each category only, so no category is ever lost."""
    by_key: dict[str, list[_Mention]] = {}
    for mention in mentions:
        by_key.setdefault(mention.key, []).append(mention)
    kept = [m for group in by_key.values() for m in _resolve_overlaps(group)]
    return sorted(kept, key=lambda m: (m.start, m.end, m.key))


def _drop_contained(mentions: Iterable[_Mention]) -> list[_Mention]:
    """Drop mentions inside a longer one; keep partial overlaps ("upset stomach ache")."""
    unique = sorted(set(mentions), key=lambda m: (m.start, -m.end, m.key))
    return [
        m
        for m in unique
        if not any(o.start <= m.start and m.end <= o.end and o.length > m.length for o in unique)
    ]


def _touches(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    """True when [start, end) overlaps any of `spans`."""
    return any(start < e and s < end for s, e in spans)


def _others_at(index: int, mention: _Mention, mentions: list[_Mention]) -> list[_Mention]:
    """Mentions other than (and not overlapping) `mention` that cover token `index`."""
    return [m for m in mentions if m.start <= index < m.end and not m.overlaps(mention)]


def _starts_by_end(spans: Iterable[tuple[int, int]]) -> dict[int, int]:
    """The earliest start of the spans ending at each token index."""
    by_end: dict[int, int] = {}
    for start, end in spans:
        by_end[end] = min(by_end.get(end, start), start)
    return by_end


@dataclass(frozen=True)
class _Blocked:
    """Where a trigger is no trigger: inside a mention, or overlapping a pseudo-trigger.

    A trigger that strictly contains a pseudo-trigger still counts: "no he tenido"
    (Spanish "I have not had") is a trigger though "no he" ("no, he ...") is a pseudo.
    """

    pseudo: list[tuple[int, int]]
    mentions: list[tuple[int, int]]

    def blocks(self, start: int, end: int) -> bool:
        """True when the trigger at [start, end) does not count."""
        if _touches(start, end, self.mentions):
            return True
        return any(
            start < e and s < end and not (start <= s and e <= end and e - s < end - start)
            for s, e in self.pseudo
        )


def _cancels(idiom: _Mention, mention: _Mention) -> bool:
    """True when a figure of speech overlaps a mention of the label or category it names."""
    names = (mention.label, mention.key) if mention.label == RED_FLAG_LABEL else (mention.label,)
    return idiom.key in names and mention.overlaps(idiom)


def _span(doc: Doc, mention: _Mention) -> Span:
    """A spaCy span for a mention (`span.id_` carries the canonical id)."""
    return Span(doc, mention.start, mention.end, label=mention.label, span_id=mention.key)


class NegationMarker:
    """Resolves entity-ruler matches into ents, red flags and negated spans (NegEx-style)."""

    def __init__(self, nlp: Language, name: str, settings: NegationSettings) -> None:
        """Keep the settings; the cue matcher is built on first use."""
        self.nlp = nlp
        self.name = name
        self.settings = settings
        self._matcher: PhraseMatcher | None = None

    def __call__(self, doc: Doc) -> Doc:
        """Set `doc.ents` and the "red_flags", "symptoms" and "negated" span groups."""
        mentions = self._mentions(doc)
        red_flags = _resolve_red_flags(m for m in mentions if m.label == RED_FLAG_LABEL)
        entities = _resolve_overlaps(m for m in mentions if m.label in self.settings.ent_labels)
        symptoms = _drop_contained(m for m in mentions if m.label == SYMPTOM_LABEL)
        candidates = list(dict.fromkeys(red_flags + entities + symptoms))
        cues_for = self._cues(doc, candidates)
        negated = [m for m in candidates if self._is_negated(doc, m, candidates, cues_for(m))]
        doc.set_ents([_span(doc, m) for m in entities if m not in negated], default="outside")
        doc.spans[RED_FLAG_SPANS] = [_span(doc, m) for m in red_flags if m not in negated]
        doc.spans[SYMPTOM_SPANS] = [_span(doc, m) for m in symptoms if m not in negated]
        doc.spans[NEGATED_SPANS] = [
            _span(doc, m) for m in sorted(negated, key=lambda m: (m.start, m.end))
        ]
        return doc

    def _mentions(self, doc: Doc) -> list[_Mention]:
        """Every ruler match as a mention, without those overlapping a figure of speech."""
        ruler: Any = self.nlp.get_pipe(self.settings.ruler)
        separator: str = ruler.ent_id_sep
        mentions = []
        for match_id, start, end in ruler.match(doc):
            label, _, key = self.nlp.vocab.strings[match_id].partition(separator)
            mentions.append(_Mention(label, key, start, end))
        idioms = [m for m in mentions if m.label == IDIOM_LABEL]
        return [
            m
            for m in mentions
            if m.label != IDIOM_LABEL and not any(_cancels(i, m) for i in idioms)
        ]

    # -- cues --

    @property
    def matcher(self) -> PhraseMatcher:
        """The cue matcher, built on first use (after the spelling vocabulary is loaded)."""
        if self._matcher is None:
            matcher = PhraseMatcher(self.nlp.vocab, attr="NORM")
            for label, phrases in self.settings.phrases.items():
                if phrases:
                    matcher.add(label, [self._normalised(p) for p in phrases])
            self._matcher = matcher
        return self._matcher

    def _normalised(self, text: str) -> Doc:
        """`text` through the tokenizer and every component before the entity ruler."""
        doc = self.nlp.make_doc(text)
        for name, component in self.nlp.pipeline:
            if name == self.settings.ruler:
                break
            doc = component(doc)
        return doc

    def _may_be_history(self, mention: _Mention) -> bool:
        """True when the history cues apply (not to self-harm or overdose: any mention fires)."""
        return not (mention.label == RED_FLAG_LABEL and mention.key in self.settings.history_exempt)

    def _may_have_ended(self, mention: _Mention) -> bool:
        """True when the "it is over" cues apply (not to an episode: a fit that ended fires)."""
        return not (mention.label == RED_FLAG_LABEL and mention.key in self.settings.ended_exempt)

    def _may_be_past(self, mention: _Mention) -> bool:
        """True when the "not current" cues apply to a mention (red flags, but the exempt)."""
        settings = self.settings
        return (
            mention.label in settings.not_current_labels
            and mention.key not in settings.not_current_exempt
        )

    def _cues(self, doc: Doc, candidates: list[_Mention]) -> Callable[[_Mention], _Cues]:
        """The negation cues that apply to a mention: the plain ones, plus the history, "it
        is over" and "not current" cues where its category allows them (built once each)."""
        found: dict[str, list[tuple[int, int]]] = {label: [] for label in self.settings.phrases}
        for match_id, start, end in self.matcher(doc):
            found[self.nlp.vocab.strings[match_id]].append((start, end))
        blocked = _Blocked(found[_PSEUDO], [(m.start, m.end) for m in candidates])
        base = _Cues()
        base.terminators = {t.i for t in doc if self._ends_clause(doc, t)}
        base.terminators.update(i for s, e in found[_TERMINATOR] for i in range(s, e))
        base.past_times = {i for s, e in found[_PAST_TIME] for i in range(s, e)}
        base.affirmations = {s for s, _ in found[_AFFIRM]}
        base.comparison_by_end = _starts_by_end(found[_COMPARISON])
        triggers = [found[label] for label in _TRIGGER_LABELS]
        base.revivals = {
            start
            for start, end in found[_REVIVE]
            if not self._post_invalid(doc, start)
            and not any(s <= start and end <= e for spans in triggers for s, e in spans)
        }
        plain = self._with_triggers(doc, base, found[_PRE], found[_POST], blocked)
        medicines = [(m.start, m.end) for m in candidates if m.label == MEDICATION_LABEL]
        built: dict[tuple[bool, bool, bool], _Cues] = {}

        def cues_for(mention: _Mention) -> _Cues:
            key = (
                self._may_be_history(mention),
                self._may_have_ended(mention),
                self._may_be_past(mention),
            )
            if key not in built:
                cues = plain
                for applies, (pre, post) in zip(key, _CONDITIONAL_TRIGGERS, strict=True):
                    if applies:
                        cues = self._with_triggers(doc, cues, found[pre], found[post], blocked)
                if key[2]:
                    cues.topic_starts = {s for s, _ in found[_TOPIC]}
                    cues.topic_prep_by_end = _starts_by_end(found[_TOPIC_PREP])
                    cues.topic_noun_by_end = _starts_by_end(found[_TOPIC_BEFORE] + medicines)
                    cues.past_adjective_by_end = _starts_by_end(found[_PAST_ADJECTIVE])
                built[key] = cues
            return built[key]

        return cues_for

    def _with_triggers(
        self,
        doc: Doc,
        cues: _Cues,
        pre: list[tuple[int, int]],
        post: list[tuple[int, int]],
        blocked: "_Blocked",
    ) -> _Cues:
        """A copy of `cues` with the valid ones of these pre- and post-triggers added."""
        added = replace(
            cues, pre_by_end=dict(cues.pre_by_end), post_by_start=dict(cues.post_by_start)
        )
        for start, end in pre:
            if not blocked.blocks(start, end) and self._valid_pre(doc, start, end, added):
                added.pre_by_end[end] = min(added.pre_by_end.get(end, start), start)
        for start, end in post:
            if not blocked.blocks(start, end) and not self._post_invalid(doc, start):
                added.post_by_start[start] = max(added.post_by_start.get(start, end), end)
        return added

    @staticmethod
    def _ends_clause(doc: Doc, token: Token) -> bool:
        """Punctuation and line breaks end a scope; a hyphen inside a word does not."""
        if token.is_space:
            return "\n" in token.text
        if not token.is_punct or token.text in _JOINING_PUNCT:
            return False
        inside_word = token.text == "-" and token.i > 0 and not doc[token.i - 1].whitespace_
        return not inside_word

    def _valid_pre(self, doc: Doc, start: int, end: int, cues: _Cues) -> bool:
        """False for the "not" of "can't", the "no" of "(ya) no puedo", and for "without"
        ("sin") after an inability."""
        if self._is_inability(doc, start) and end - start == 1:
            return False
        if doc[end - 1].norm_ == "no" and self._is_inability(doc, end - 1):
            return False
        words = " ".join(t.norm_ for t in doc[start:end])
        if words not in self.settings.unless_after_inability:
            return True
        index = start - 1
        while index >= 0 and index not in cues.terminators:
            if self._is_inability(doc, index):
                return False
            index -= 1
        return True

    def _is_inability(self, doc: Doc, index: int) -> bool:
        """True for "unable", the "not" of "can't", "won't", "couldn't", and the "no" of
        "no puedo", "no aguanto" (a Spanish "no" before one of `inability_verbs`)."""
        norm = doc[index].norm_
        if norm == "unable":
            return True
        if norm == "no" and index + 1 < len(doc):
            return doc[index + 1].norm_ in self.settings.inability_verbs
        return norm == "not" and index > 0 and doc[index - 1].norm_ in self.settings.modals

    def _post_invalid(self, doc: Doc, start: int) -> bool:
        """True for "has not stopped", "never went away", "almost gone", "not come back"."""
        return start > 0 and doc[start - 1].norm_ in self.settings.post_invalidators

    # -- scope --

    def _is_negated(
        self, doc: Doc, mention: _Mention, candidates: list[_Mention], cues: _Cues
    ) -> bool:
        """A close pre-trigger in its clause, or a post-trigger or past cue unless compared."""
        if self._revived(mention, candidates, cues):
            return False
        trigger_start = self._pre_trigger(doc, mention, candidates, cues)
        if trigger_start is not None:
            clause_end = self._clause_end(doc, mention.end, cues)
            return not any(trigger_start <= i <= clause_end for i in cues.affirmations)
        past = self._not_current(doc, mention, cues)
        if not past and self._post_trigger(doc, mention, candidates, cues) is None:
            return False
        return self._pre_trigger(doc, mention, candidates, cues, cues.comparison_by_end) is None

    @staticmethod
    def _revived(mention: _Mention, candidates: list[_Mention], cues: _Cues) -> bool:
        """True when "came back" (or similar) follows with no mention but a medicine in between."""
        for cue in cues.revivals:
            if cue < mention.end:
                continue
            between = [
                m
                for m in candidates
                if mention.end <= m.start and m.end <= cue and m.label != MEDICATION_LABEL
            ]
            if not between:
                return True
        return False

    def _not_current(self, doc: Doc, mention: _Mention, cues: _Cues) -> bool:
        """True for a red flag as a topic ("seizure meds", "pastillas para las convulsiones")
        or a past one ("my last seizure")."""
        prep = cues.topic_prep_by_end.get(mention.start)
        if mention.end in cues.topic_starts:
            left = mention.start
        elif prep is not None and prep in cues.topic_noun_by_end:
            left = cues.topic_noun_by_end[prep]
        elif mention.start in cues.past_adjective_by_end:
            left = cues.past_adjective_by_end[mention.start]
        else:
            return False
        events = self.settings.event_words
        return not any(doc[i].norm_ in events for i in range(max(0, left - 2), left))

    def _pre_trigger(
        self,
        doc: Doc,
        mention: _Mention,
        candidates: list[_Mention],
        cues: _Cues,
        by_end: dict[int, int] | None = None,
    ) -> int | None:
        """The start of a pre-trigger (negation, or those of `by_end`) reaching `mention`."""
        triggers = cues.pre_by_end if by_end is None else by_end
        gap: list[int] = []
        index = mention.start
        while index > 0:
            if index in triggers:
                return triggers[index]
            previous = index - 1
            if previous in cues.terminators:
                return None
            covering = _others_at(previous, mention, candidates)
            if covering:
                if not self._joins_list(doc, gap):
                    return None
                gap = []
                index = min(m.start for m in covering)
                continue
            gap.append(previous)
            if len(gap) > self.settings.window:
                return None
            index = previous
        return None

    def _post_trigger(
        self, doc: Doc, mention: _Mention, candidates: list[_Mention], cues: _Cues
    ) -> int | None:
        """The end of a post-negation trigger whose scope reaches `mention`, if any."""
        gap: list[int] = []
        index = mention.end
        while index < len(doc):
            if index in cues.post_by_start:
                return cues.post_by_start[index]
            if index in cues.terminators and index not in cues.past_times:
                return None
            covering = _others_at(index, mention, candidates)
            if covering:
                if not self._joins_list(doc, gap):
                    return None
                gap = []
                index = max(m.end for m in covering)
                continue
            gap.append(index)
            if len(gap) > self.settings.window:
                return None
            index += 1
        return None

    def _joins_list(self, doc: Doc, gap: list[int]) -> bool:
        """True when the words between two mentions only join a list ("nausea or vomiting")."""
        return all(doc[i].norm_ in self.settings.connectors for i in gap)

    @staticmethod
    def _clause_end(doc: Doc, start: int, cues: _Cues) -> int:
        """The first terminator at or after `start` (or the end of the doc)."""
        return next((i for i in range(start, len(doc)) if i in cues.terminators), len(doc))


@Language.factory(
    "trialbot_negation",
    default_config={
        "ruler": "entity_ruler",
        "ent_labels": ["SYMPTOM", "BODY_PART", "MEDICATION"],
        "window": 4,
        "pre_triggers": [],
        "post_triggers": [],
        "pseudo_triggers": [],
        "terminators": [],
        "clause_openers": [],
        "affirmations": [],
        "revivals": [],
        "connectors": [],
        "modals": [],
        "inability_verbs": [],
        "post_invalidators": [],
        "unless_after_inability": [],
        "past_times": [],
        "comparisons": [],
        "not_current_labels": [],
        "not_current_exempt": [],
        "ended_exempt": [],
        "history_exempt": [],
        "history_pre_triggers": [],
        "history_post_triggers": [],
        "ended_pre_triggers": [],
        "ended_post_triggers": [],
        "not_current_pre_triggers": [],
        "not_current_post_triggers": [],
        "topic_nouns": [],
        "topic_nouns_before": [],
        "topic_prepositions": [],
        "past_adjectives": [],
        "event_words": [],
    },
    assigns=["doc.ents", "doc.spans", "token.ent_type", "token.ent_iob"],
    requires=["token.norm"],
)
def make_negation_marker(
    nlp: Language,
    name: str,
    ruler: str,
    ent_labels: list[str],
    window: int,
    pre_triggers: list[str],
    post_triggers: list[str],
    pseudo_triggers: list[str],
    terminators: list[str],
    clause_openers: list[str],
    affirmations: list[str],
    revivals: list[str],
    connectors: list[str],
    modals: list[str],
    inability_verbs: list[str],
    post_invalidators: list[str],
    unless_after_inability: list[str],
    past_times: list[str],
    comparisons: list[str],
    not_current_labels: list[str],
    not_current_exempt: list[str],
    ended_exempt: list[str],
    history_exempt: list[str],
    history_pre_triggers: list[str],
    history_post_triggers: list[str],
    ended_pre_triggers: list[str],
    ended_post_triggers: list[str],
    not_current_pre_triggers: list[str],
    not_current_post_triggers: list[str],
    topic_nouns: list[str],
    topic_nouns_before: list[str],
    topic_prepositions: list[str],
    past_adjectives: list[str],
    event_words: list[str],
) -> NegationMarker:
    """Create the negation marker from its config (trigger lists from lexicon/negation.yml)."""
    settings = NegationSettings(
        ruler=ruler,
        ent_labels=frozenset(ent_labels),
        window=window,
        phrases={
            _PRE: pre_triggers,
            _POST: post_triggers,
            _PSEUDO: pseudo_triggers,
            _TERMINATOR: terminators + [f"and {word}" for word in clause_openers],
            _AFFIRM: affirmations,
            _REVIVE: revivals,
            _NOT_CURRENT_PRE: not_current_pre_triggers,
            _NOT_CURRENT_POST: not_current_post_triggers,
            _ENDED_PRE: ended_pre_triggers,
            _ENDED_POST: ended_post_triggers,
            _HISTORY_PRE: history_pre_triggers,
            _HISTORY_POST: history_post_triggers,
            _TOPIC: topic_nouns,
            _TOPIC_BEFORE: topic_nouns_before,
            _TOPIC_PREP: topic_prepositions,
            _PAST_ADJECTIVE: past_adjectives,
            _PAST_TIME: past_times,
            _COMPARISON: comparisons,
        },
        connectors=frozenset(connectors),
        modals=frozenset(modals),
        inability_verbs=frozenset(inability_verbs),
        post_invalidators=frozenset(post_invalidators),
        unless_after_inability=frozenset(unless_after_inability),
        not_current_labels=frozenset(not_current_labels),
        not_current_exempt=frozenset(not_current_exempt),
        ended_exempt=frozenset(ended_exempt),
        history_exempt=frozenset(history_exempt),
        event_words=frozenset(event_words),
    )
    return NegationMarker(nlp, name, settings)
