"""The spelling normaliser: fixed corrections, one-edit fuzzy matching, protected words."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from spacy.lang.es.stop_words import STOP_WORDS as SPANISH_STOP_WORDS
from spacy.language import Language

from bot.nlp.components import SpellingNormalizer, fold_accents, within_one_edit

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


# --- Spanish ------------------------------------------------------------------------------

# Spanish words the corrector changes on purpose: the same word in another form, or letter
# runs collapsed (Roman numerals); anything else turning up here is a collision to protect.
SPANISH_SAME_WORD = {
    "cabezas": "cabeza",
    "lenguas": "lengua",
    "horribles": "horrible",
    "terribles": "terrible",
    "miserables": "miserable",
    "medicacion": "medication",
    "severo": "severe",
    "diarrea": "diarrhea",
    "escalofrio": "escalofrios",
}
# One-letter SMS forms shared with English texting ("u" is "you", "d" is "de").
SHARED_SMS_FORMS = {"d", "n", "q", "r", "u", "w", "num"}


@pytest.mark.parametrize(
    ("text", "norms"),
    [
        ("sí", ["si"]),
        ("mareé", ["maree"]),
        ("año", ["ano"]),
        ("está", ["esta"]),
        ("¿qué", ["¿", "que"]),
        ("¡ayuda!", ["¡", "ayuda", "!"]),
        ("hola¿me", ["hola", "¿", "me"]),
        ("bien,¿y", ["bien", ",", "¿", "y"]),
        ("ayuda¡no", ["ayuda", "¡", "no"]),
        ("pexo", ["pecho"]),
        ("dolr", ["dolor"]),
        ("respirrar", ["respirar"]),
        ("nesesito", ["necesito"]),
        ("q", ["que"]),
        ("ke", ["que"]),
        ("xq", ["porque"]),
        ("tmb", ["tambien"]),
        ("gómito", ["vomito"]),
        ("desmallé", ["desmaye"]),
        ("d", ["de"]),
        ("dnt", ["do", "not"]),
        ("ya", ["ya"]),
        ("nooo", ["no"]),
    ],
)
def test_spanish_norms(nlp: Language, text: str, norms: list[str]) -> None:
    """Accents folded, SMS forms and misspellings read alike; English contractions intact."""
    assert [token.norm_ for token in nlp(text)] == norms


def test_unseen_spanish_typos_are_corrected(speller: SpellingNormalizer) -> None:
    """One edit towards a Spanish target, as for English."""
    assert speller.normalize("garganat") == "garganta"
    assert speller.normalize("convulsione") == "convulsiones"
    assert speller.normalize("hemorragai") == "hemorragia"


@pytest.mark.parametrize("word", ["lunes", "casado", "marcado", "dolar", "prision", "temor"])
def test_spanish_words_next_to_a_target_are_not_corrected(
    speller: SpellingNormalizer, word: str
) -> None:
    """ "lunes" is not "lungs", "casado" not "cansado", "dolar" not "dolor"."""
    assert speller.normalize(word) == word


def test_everyday_spanish_words_are_not_corrected(speller: SpellingNormalizer) -> None:
    """textstat's 20,000 commonest Spanish words keep their meaning (accents folded)."""
    words_file = resources.files("textstat") / "resources" / "es" / "easy_words.txt"
    if not words_file.is_file():
        pytest.skip("textstat's Spanish word list is not available")
    words = {fold_accents(w.strip().lower()) for w in words_file.read_text("utf8").split()}
    changed = {w: speller.normalize(w) for w in words if w.isalpha() and speller.normalize(w) != w}
    unexpected = {
        w: n
        for w, n in changed.items()
        if SPANISH_SAME_WORD.get(w) != n
        and w not in SHARED_SMS_FORMS
        and not re.fullmatch(r"(.)\1+|[ivxlc]+", w)
    }
    assert unexpected == {}


def test_no_spanish_stop_word_is_corrected(speller: SpellingNormalizer) -> None:
    """spaCy's Spanish stop words are protected like the English ones."""
    words = {fold_accents(w) for w in SPANISH_STOP_WORDS if w.isalpha()}
    changed = {w: speller.normalize(w) for w in words if speller.normalize(w) != w}
    assert {w: n for w, n in changed.items() if w not in SHARED_SMS_FORMS} == {}
