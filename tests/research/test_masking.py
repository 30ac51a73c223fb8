"""Masking personal details in participant messages (bot.research.masking)."""

from __future__ import annotations

import time

import pytest
import yaml

from bot.research.masking import (
    AMBIGUOUS_NAMES,
    FIRST_NAMES,
    LEXICON_DIR,
    _words_in,
    mask_text,
    mask_texts,
)

MASKED = [
    # phone numbers, in the formats people type
    ("call me at 312-555-0123", "call me at [phone]"),
    ("call 312.555.0123 please", "call [phone] please"),
    ("my cell is (312) 555-0123.", "my cell is [phone]."),
    ("(312)555-0123", "[phone]"),
    ("+1 312 555 0123", "[phone]"),
    ("+13125550123", "[phone]"),
    ("3125550123", "[phone]"),
    ("1-800-555-0199 is the line", "[phone] is the line"),
    ("1 (800) 555-0199", "[phone]"),
    ("+44 20 7946 0958", "[phone]"),
    ("020 7946 0958", "[phone]"),
    ("07700 900123", "[phone]"),
    ("my number is 555-0123", "my number is [phone]"),
    ("text 312 555 0123 or 312-555-0188", "text [phone] or [phone]"),
    # emails and links
    ("email me at mary.smith+trial@gmail.com", "email me at [email]"),
    ("JO_SMITH@Example.CO.UK", "[email]"),
    ("john dot smith at gmail dot com", "[email]"),
    ("jsmith(at)yahoo(dot)com", "[email]"),
    ("see https://example.com/form?id=123&token=abc.", "see [url]."),
    ("www.clinic.org/p?patient=77 is mine", "[url] is mine"),
    ("http://x.org/a#me", "[url]"),
    # other identifiers
    ("my ssn is 123-45-6789", "my ssn is [id]"),
    ("I live at 42 Elm Street", "I live at [address]"),
    ("send it to 1600 Pennsylvania Ave please", "send it to [address] please"),
    ("my dob is 03/14/1950", "my dob is [date]"),
    ("born on March 14, 1950", "born on [date]"),
    ("DOB: 1950-03-14", "DOB: [date]"),
    ("add me @johnny_b", "add me [name]"),
    # names after a cue
    ("hi this is Mary, my head hurts", "hi this is [name], my head hurts"),
    ("my name is john smith and i feel sick", "my name is [name] and i feel sick"),
    ("MY NAME IS JOHN", "MY NAME IS [name]"),
    ("my name's Bob", "my name's [name]"),
    ("names Tom", "names [name]"),
    ("Im John", "Im [name]"),
    ("I'm Will", "I'm [name]"),
    ("i am Tiffany and i need help", "i am [name] and i need help"),
    ("Hi, it's Bill from room 4", "Hi, it's [name] from room 4"),
    ("call me Maddy", "call me [name]"),
    ("Dr. Patel said to stop", "Dr. [name] said to stop"),
    ("talk to Nurse Kelly", "talk to Nurse [name]"),
    ("my wife Mary-Jane drove me", "my wife [name] drove me"),
    ("my husband Frank has covid", "my husband [name] has covid"),
    ("thanks, Bob!", "thanks, [name]!"),
    ("I'm Ann-Marie Lopez", "I'm [name]"),
    ("Sarah O'Neil here", "[name] here"),
    # common first names anywhere
    ("- Linda", "- [name]"),
    ("tell john i said thanks", "tell [name] i said thanks"),
    ("Margaret took me to the clinic", "[name] took me to the clinic"),
    ("my name is Grace Hopper, 312-555-0123", "my name is [name], [phone]"),
]

KEPT = [
    # numbers that are not phone numbers
    "i took 2 puffs at 8:30",
    "week 12",
    "week 12 visit is on 3/14 at 10:30",
    "my bp was 120/80",
    "temp 101.5 this morning",
    "I walked 800-1200 steps",
    "2024-03-01",
    "took 500 mg tylenol twice",
    "sugar 145 fasting",
    "oxygen is 92% today",
    "I have had this for 3 days",
    "+1 for that",
    "visit 3 of 12",
    "my study id is P-001",
    # links without a query string
    "www.copdstudy.org is that legit?",
    "https://copdstudy.org/faq",
    # study words, symptoms and medicines
    "call the nurse",
    "I need to talk to the doctor",
    "I'm feeling dizzy",
    "Im tired and wheezy",
    "this is terrible",
    "this is Tuesday",
    "It's May already",
    "this is Advair right?",
    "I'm on Spiriva and Symbicort",
    "can i take Advil with my inhaler",
    "i have chest pain and took 2 aspirin",
    "is the placebo a sugar pill",
    "my daughter will call",
    "I'm Diabetic",
    "hello Doctor",
    "call me back",
    "call me later",
    "they call me Red",
    "Gene therapy?",
    "i had an x ray",
    "i'm COPD patient",
    "Will I feel better soon?",
    "I hope it gets better",
    "Mark the visit for me",
    "I'm not sure",
    "thanks so much",
    "Ok",
    "",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_personal_details_are_masked(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_everything_else_is_kept_word_for_word(text: str) -> None:
    assert mask_text(text) == text


def test_there_are_enough_cases() -> None:
    assert len(MASKED) + len(KEPT) >= 80


@pytest.mark.parametrize(("text", "expected"), MASKED[:10])
def test_masking_twice_changes_nothing_more(text: str, expected: str) -> None:
    assert mask_text(mask_text(text)) == expected


def test_many_at_once_gives_the_same_as_one_by_one() -> None:
    texts = [text for text, _ in MASKED] + KEPT

    assert mask_texts(texts) == [mask_text(text) for text in texts]


def test_whitespace_only_is_returned_as_it_is() -> None:
    assert mask_text("  \n") == "  \n"
    assert mask_texts(["", " "]) == ["", " "]


def test_it_is_fast() -> None:
    """About a tenth of a millisecond a message: fine for an export of a whole study."""
    mask_text("warm up")
    texts = [text for text, _ in MASKED] + KEPT
    started = time.perf_counter()
    for _ in range(20):
        mask_texts(texts)
    per_message = (time.perf_counter() - started) / (20 * len(texts))

    assert per_message < 0.002


def test_no_name_is_a_medicine() -> None:
    """A medicine's name is never taken for a person's."""
    with (LEXICON_DIR / "medications.yml").open(encoding="utf8") as handle:
        medicines = set(_words_in(yaml.safe_load(handle)))

    assert not (FIRST_NAMES | AMBIGUOUS_NAMES) & medicines
