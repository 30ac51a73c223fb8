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


# Spanish, as participants type it (accents or none, abbreviations, Spanglish).
MASKED_ES = [
    # strong cues: any name word, lower case too
    ("me llamo Lupita Garcia", "me llamo [name]"),
    ("me llamo lupita garcia", "me llamo [name]"),
    ("Mi nombre es Maria Elena Lopez", "Mi nombre es [name]"),
    ("mi nombre es jose", "mi nombre es [name]"),
    ("le habla Rocio Hernandez", "le habla [name]"),
    ("de parte de Yesenia", "de parte de [name]"),
    ("me llamo Rosa", "me llamo [name]"),
    # medium cues: a capitalised name
    ("soy Carmen, la hija de Rosa", "soy [name], la hija de [name]"),
    ("Soy Ximena y tengo tos", "Soy [name] y tengo tos"),
    ("Hola soy Maria Garcia tengo fiebre", "Hola soy [name] tengo fiebre"),
    ("Habla Sofía", "Habla [name]"),
    ("hablo con Jose mañana", "hablo con [name] mañana"),
    ("hablo con Esperanza manana", "hablo con [name] manana"),
    ("me dicen Chuy", "me dicen [name]"),
    ("Hola Esperanza", "Hola [name]"),
    ("gracias, Guadalupe", "gracias, [name]"),
    ("Saludos, Alejandro", "Saludos, [name]"),
    ("atte. Carlos Ramirez", "atte. [name]"),
    ("Atte Juan", "Atte [name]"),
    # relatives with a possessive, and "la hija de"
    ("mi hija Esperanza", "mi hija [name]"),
    ("mi esposo Ramon no puede venir", "mi esposo [name] no puede venir"),
    ("Mi mama Dolores esta enferma", "Mi mama [name] esta enferma"),
    ("mi mamá Dolores", "mi mamá [name]"),
    ("mi suegra Pilar me cuida", "mi suegra [name] me cuida"),
    ("Mi vecina Consuelo me trae", "Mi vecina [name] me trae"),
    ("mi tia Amparo", "mi tia [name]"),
    ("mi cuñado Paco", "mi cuñado [name]"),
    ("mi hijo Julio", "mi hijo [name]"),
    ("la hija de Mercedes", "la hija de [name]"),
    ("el papá de Ximena", "el papá de [name]"),
    ("mi esposa Maria de la Cruz", "mi esposa [name]"),
    # titles
    ("el doctor Flores me dijo", "el doctor [name] me dijo"),
    ("la Dra. Pérez", "la Dra. [name]"),
    ("dra Martinez", "dra [name]"),
    ("la enfermera Soledad", "la enfermera [name]"),
    ("el enfermero Cruz", "el enfermero [name]"),
    ("de parte de la Sra. Torres", "de parte de la Sra. [name]"),
    ("Sr. Gomez", "Sr. [name]"),
    # a name that is also a word, capitalised at the start, before "me", "nos"
    ("Luz me ayuda", "[name] me ayuda"),
    ("Rosa me lleva a la cita", "[name] me lleva a la cita"),
    # common names anywhere, second surnames and "de los"
    ("Maria de los Angeles Perez me llevo", "[name] me llevo"),
    ("mañana viene Guadalupe", "mañana viene [name]"),
    # Spanglish
    ("my hija Rosa has fever", "my hija [name] has fever"),
    ("I'm Jose", "I'm [name]"),
    ("my name is Lupita, tengo tos", "my name is [name], tengo tos"),
]

KEPT_ES = [
    # symptoms, body parts and medicines, capitalised at the start or not
    "tengo dolores de cabeza",
    "Dolores de cabeza todo el dia",
    "Tengo dolores en el pecho",
    "me da fiebre y me dan escalofrios",
    "Fiebre de 39",
    "Estoy con mareos",
    "Me duele la Cabeza",
    "Tome Ibuprofeno y Paracetamol",
    "con Dolor de cabeza",
    "estoy con Fiebre",
    "con Mucho dolor",
    "la bomba azul no me sirve",
    # the names that are words, as words
    "siento mucha soledad",
    "socorro me duele el pecho",
    "Socorro ayudenme",
    "la luz me molesta los ojos",
    "orina rosa",
    "tengo la piel blanca",
    "la esperanza es lo ultimo",
    "Paz y amor",
    "en julio",
    "tomas la pastilla?",
    "sigo con mucha soledad",
    # everyday words after a cue
    "soy Diabetica",
    "Soy alergica a la penicilina",
    "Gracias doctora",
    "gracias a Dios",
    "Hola, Buenos dias",
    "hablo con el doctor",
    "voy con mi hija",
    "¿Con quien hablo?",
    "Rosa la enfermera dijo que si",
]


@pytest.mark.parametrize(("text", "expected"), MASKED_ES + [(text, text) for text in KEPT_ES])
def test_spanish_names_are_masked_and_everyday_words_kept(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_there_are_enough_spanish_cases() -> None:
    assert len(MASKED_ES) + len(KEPT_ES) >= 40


def test_no_name_is_a_spanish_medicine_symptom_or_body_part() -> None:
    """A Spanish lexicon word ("dolores", "bomba") is never a name wherever it appears."""
    words: set[str] = set()
    for name in ("medications.yml", "symptoms.yml", "body_parts.yml"):
        with (LEXICON_DIR / "es" / name).open(encoding="utf8") as handle:
            words.update(_words_in(yaml.safe_load(handle)))

    assert not FIRST_NAMES & words


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
