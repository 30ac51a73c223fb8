"""The spelling normaliser: fixed corrections, one-edit fuzzy matching, protected words."""

from __future__ import annotations

from importlib import resources

import pytest
from spacy.language import Language

from bot.nlp.components import SpellingNormalizer, within_one_edit

EVERYDAY_INFLECTIONS = [
    "cooking",
    "heard",
    "light",
    "tried",
    "spitting",
    "dropping",
    "worse",
    "puffs",
    "stood",
    "waist",
    "cheat",
    "couch",
    "plain",
    "hearts",
    "tables",
    "sharing",
    "selling",
    "fewer",
    "timed",
    "shake",
    "shady",
    "spelling",
    "threat",
    "chilly",
    "meeting",
    "feeling",
    "waiting",
    "sleeping",
    "watching",
    "walking",
    "talking",
    "looking",
    "thinking",
    "wanted",
]


@pytest.fixture(scope="module")
def speller(nlp: Language) -> SpellingNormalizer:
    """The spelling component of the built pipeline."""
    component = nlp.get_pipe("trialbot_spelling")
    assert isinstance(component, SpellingNormalizer)
    return component


@pytest.mark.parametrize(
    ("text", "norms"),
    [
        ("breth", ["breathe"]),
        ("brethe", ["breathe"]),
        ("chset", ["chest"]),
        ("pian", ["pain"]),
        ("vomitting", ["vomiting"]),
        ("headach", ["headache"]),
        ("dizy", ["dizzy"]),
        ("u", ["you"]),
        ("ur", ["your"]),
        ("2day", ["today"]),
        ("cant", ["can", "not"]),
        ("can't", ["can", "not"]),
        ("cannot", ["can", "not"]),
        ("cnt", ["can", "not"]),
        ("im", ["i", "am"]),
        ("nauseaaa", ["nausea"]),
        ("seizre", ["seizure"]),
        ("swolen", ["swollen"]),
        ("tounge", ["tongue"]),
    ],
)
def test_norms(nlp: Language, text: str, norms: list[str]) -> None:
    """SMS forms, contractions and typos get one consistent normal form."""
    assert [token.norm_ for token in nlp(text)] == norms


def test_unseen_typos_of_lexicon_words_are_corrected(speller: SpellingNormalizer) -> None:
    """One edit, five letters or more, same first letter, towards a target."""
    assert speller.normalize("seizrue") == "seizure"
    assert speller.normalize("swellng") == "swelling"
    assert speller.normalize("palpitatons") == "palpitations"


def test_short_words_are_never_fuzzy_corrected(speller: SpellingNormalizer) -> None:
    """Tokens under five letters are left alone unless listed."""
    assert speller.normalize("pai") == "pain"  # listed
    assert speller.normalize("ran") == "ran"


@pytest.mark.parametrize("word", EVERYDAY_INFLECTIONS)
def test_real_words_are_not_corrected(speller: SpellingNormalizer, word: str) -> None:
    """A real word one edit from a lexicon word keeps its meaning ("cooking")."""
    assert speller.normalize(word) == word


def test_everyday_english_words_are_not_corrected(speller: SpellingNormalizer) -> None:
    """No word of the Dale-Chall familiar-word list (shipped with textstat) is changed."""
    words_file = resources.files("textstat") / "resources" / "en" / "easy_words.txt"
    if not words_file.is_file():
        pytest.skip("textstat's word list is not available")
    words = words_file.read_text(encoding="utf8").split()
    changed = {w: speller.normalize(w) for w in words if speller.normalize(w) != w}
    listed = set(speller.vocabulary.corrections)
    assert {w: n for w, n in changed.items() if w not in listed} == {}


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("chest", "chset", True),
        ("nausea", "nausia", True),
        ("swollen", "swolen", True),
        ("swollen", "swolenn", False),
        ("pain", "pain", True),
        ("abc", "abcde", False),
        ("heart", "earth", False),
    ],
)
def test_within_one_edit(a: str, b: str, expected: bool) -> None:
    """Damerau-Levenshtein distance of at most one."""
    assert within_one_edit(a, b) is expected


def test_corrected_form_is_the_lemma_the_intent_model_counts(nlp: Language) -> None:
    """Rasa's count vectors read `lemma_`: a typo reaches the classifier corrected."""
    doc = nlp("can the study medicen be bad for me")
    assert [t.lemma_ for t in doc] == ["can", "the", "study", "medicine", "be", "bad", "for", "me"]
    assert doc[3].text == "medicen"
