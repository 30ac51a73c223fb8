"""Symptoms, negation and overlap handling of the pipeline (bot.nlp.analysis)."""

from __future__ import annotations

import pytest
import yaml
from spacy.language import Language

from bot.nlp.analysis import red_flags_in, symptoms_in
from bot.nlp.build_pipeline import LEXICON_DIR
from bot.nlp.symptoms import SYMPTOM_ATTRIBUTES, SymptomInfo, symptom_info, symptom_names

REQUIRED_SYMPTOMS = [
    "nausea",
    "vomiting",
    "diarrhea",
    "constipation",
    "decreased_appetite",
    "abdominal_pain",
    "fatigue",
    "insomnia",
    "headache",
    "dizziness",
    "shortness_of_breath",
    "cough",
    "wheezing",
    "chest_tightness",
    "hoarseness",
    "dry_mouth",
    "mouth_sores",
    "sore_throat",
    "rash",
    "itching",
    "swelling",
    "fever",
    "chills",
    "muscle_pain",
    "joint_pain",
    "pain",
    "numbness_tingling",
    "palpitations",
    "anxiety",
    "sad_mood",
    "blurred_vision",
    "tremor",
    "hot_flashes",
]


def _symptoms(nlp: Language, text: str) -> list[str]:
    """Symptom names found in a message, in text order."""
    return [mention.symptom for mention in symptoms_in(nlp(text.lower()))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("i threw up 3 times and my head is killing me", ["vomiting", "headache"]),
        ("no nausea but bad headache", ["headache"]),
        ("im so tired and the runs again", ["fatigue", "diarrhea"]),
        ("feeling nausious", ["nausea"]),
        ("diarhea since yesterday", ["diarrhea"]),
        ("bad headach today", ["headache"]),
        ("i am vomitting", ["vomiting"]),
        ("so dizy when i stand", ["dizziness"]),
        ("puking and barfing all night", ["vomiting"]),
        ("sick to my stomach", ["nausea"]),
        ("queasy", ["nausea"]),
        ("loose stools", ["diarrhea"]),
        ("cant sleep", ["insomnia"]),
        ("tired all the time", ["fatigue"]),
        ("totally wiped out", ["fatigue"]),
        ("my head hurts", ["headache"]),
        ("head is pounding", ["headache"]),
        ("winded going up the stairs", ["shortness_of_breath"]),
        ("im sob when i walk", ["shortness_of_breath"]),
        ("lightheaded and the room is spinning", ["dizziness"]),
        ("my ankles are swollen", ["swelling"]),
        ("hands are shaky", ["tremor"]),
        ("heart is racing", ["palpitations"]),
        ("hot flashes at night", ["hot_flashes"]),
        ("my voice is hoarse", ["hoarseness"]),
        ("sooo tired", ["fatigue"]),
        ("been throwing up all night", ["vomiting"]),
        ("feel like throwing up", ["nausea"]),
        ("mouth sore", ["mouth_sores"]),
        ("upset stomach ache", ["nausea", "abdominal_pain"]),
        ("i sob every night", []),
    ],
)
def test_symptoms_are_found_in_text_order(nlp: Language, text: str, expected: list[str]) -> None:
    """Lay terms, slang and typos map to canonical symptom names."""
    assert _symptoms(nlp, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "i threw up 3 times and my head is killing me",
        "no nausea but bad headache",
        "im so tired and the runs again",
        "short of breath walking to the mailbox",
    ],
)
def test_symptom_messages_raise_no_red_flag(nlp: Language, text: str) -> None:
    """Ordinary symptom reports are not emergencies."""
    assert red_flags_in(nlp(text)) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my headache is gone", []),
        ("no nausea or vomiting", []),
        ("no nausea, vomiting since lunch", ["vomiting"]),
        ("dont have a headache anymore", []),
        ("i stopped throwing up yesterday", []),
        ("the dizziness passed", []),
        ("not sure if its a headache", ["headache"]),
        ("i dont know if i have a fever", ["fever"]),
        ("no appetite", ["decreased_appetite"]),
        ("i cant stop coughing", ["cough"]),
        ("the pills are not helping my headache", ["headache"]),
        ("not feeling well and have a headache", ["headache"]),
        ("no fever and my head hurts", ["headache"]),
        ("my headache has not gone away", ["headache"]),
        ("headache went away but came back", ["headache"]),
        ("i cant walk without getting winded", ["shortness_of_breath"]),
        ("the nausea doesnt bother me anymore", []),
        ("my headache hasnt come back", []),
        ("i had a headache this morning but its gone now", []),
        ("i cant sleep anymore", ["insomnia"]),
        ("the leaflet talks about nausea", ["nausea"]),
    ],
)
def test_negation(nlp: Language, text: str, expected: list[str]) -> None:
    """NegEx-style negation, pseudo-negation, scope ends and revivals."""
    assert _symptoms(nlp, text) == expected


def test_negated_mentions_leave_doc_ents(nlp: Language) -> None:
    """Negated spans go to doc.spans["negated"], never to doc.ents."""
    doc = nlp("no nausea but bad headache")
    assert [ent.ent_id_ for ent in doc.ents] == ["headache"]
    assert [span.id_ for span in doc.spans["negated"]] == ["nausea"]


def test_a_red_flag_survives_overlap_with_a_symptom(nlp: Language) -> None:
    """ "crushing chest pain" is a red flag even though symptoms overlap it."""
    doc = nlp("crushing chest pain")
    assert [flag.category for flag in red_flags_in(doc)] == ["chest_pain"]
    assert "RED_FLAG" not in {ent.label_ for ent in doc.ents}


def test_symptom_mentions_carry_character_offsets(nlp: Language) -> None:
    """Offsets point at the mention in the original text, de-duplicated by symptom."""
    text = "threw up, then threw up again and puking"
    mentions = symptoms_in(nlp(text))
    assert len(mentions) == 1
    mention = mentions[0]
    assert (mention.symptom, text[mention.start_char : mention.end_char]) == (
        "vomiting",
        "threw up",
    )


def test_body_parts_and_medications_are_entities(nlp: Language) -> None:
    """BODY_PART and MEDICATION ents carry canonical ids for Rasa."""
    doc = nlp("rash on my arm since i started the ventolin")
    found = [(ent.label_, ent.ent_id_) for ent in doc.ents]
    assert found == [("SYMPTOM", "rash"), ("BODY_PART", "arm"), ("MEDICATION", "albuterol")]


def test_every_required_symptom_has_info() -> None:
    """Each symptom has a plain label and PRO-CTCAE-style attributes."""
    names = symptom_names()
    for name in REQUIRED_SYMPTOMS:
        assert name in names
        info = symptom_info(name)
        assert info.label
        assert info.attributes
        assert set(info.attributes) <= set(SYMPTOM_ATTRIBUTES)


def test_symptom_info_follows_pro_ctcae() -> None:
    """A few attribute sets from the PRO-CTCAE item library."""
    assert symptom_info("nausea") == SymptomInfo(
        "nausea", "feeling sick to your stomach", ("frequency", "severity")
    )
    assert symptom_info("diarrhea").attributes == ("frequency",)
    assert symptom_info("fatigue").attributes == ("severity", "interference")
    assert symptom_info("headache").attributes == ("frequency", "severity", "interference")


def test_unknown_symptom_is_a_key_error() -> None:
    """An unknown name is refused loudly."""
    with pytest.raises(KeyError):
        symptom_info("hiccups_forever")


# --- Spanish ------------------------------------------------------------------------------

SPANISH_SYMPTOMS = [
    ("tengo tos y me silba el pecho", ["cough", "wheezing"]),
    ("chiflido en el pecho", ["wheezing"]),
    ("me falta un poco el aire al caminar", ["shortness_of_breath"]),
    ("tengo ronquera", ["hoarseness"]),
    ("tengo la boca seca", ["dry_mouth"]),
    ("me duele la garganta", ["sore_throat"]),
    ("tengo dolor de cabeza", ["headache"]),
    ("palpitaciones", ["palpitations"]),
    ("me tiemblan las manos", ["tremor"]),
    ("tengo náuseas", ["nausea"]),
    ("ganas de vomitar", ["nausea"]),
    ("estoy muy cansada", ["fatigue"]),
    ("agruras", ["heartburn"]),
    ("tengo calentura", ["fever"]),
    ("ando con diarrea", ["diarrhea"]),
    ("estreñimiento", ["constipation"]),
    ("no tengo hambre", ["decreased_appetite"]),
    ("me duele la panza", ["abdominal_pain"]),
    ("no puedo dormir", ["insomnia"]),
    ("ando mareada", ["dizziness"]),
    ("escalofríos", ["chills"]),
    ("sudores en la noche", ["sweating"]),
    ("me duelen los músculos", ["muscle_pain"]),
    ("me duelen las rodillas", ["joint_pain"]),
    ("hormigueo en los pies", ["numbness_tingling"]),
    ("me siento triste", ["sad_mood"]),
    ("veo borroso", ["blurred_vision"]),
    ("bochornos", ["hot_flashes"]),
    ("sabor metálico", ["taste_changes"]),
    ("me salen moretones", ["bruising"]),
    ("tengo el pecho apretado", ["chest_tightness"]),
    ("llagas en la boca", ["mouth_sores"]),
    ("me cuesta tragar", ["difficulty_swallowing"]),
    ("tengo ronchas y comezón", ["rash", "itching"]),
    ("se me hinchan los pies", ["swelling"]),
    ("me duele la espalda", ["pain"]),
    ("vomité 3 veces y me duele mucho la cabeza", ["vomiting", "headache"]),
    ("tengo mucha ansiedad", ["anxiety"]),
    ("me sale sangre de la nariz", ["nosebleed"]),
    ("tengo cólicos", ["abdominal_pain"]),
]


@pytest.mark.parametrize(("text", "expected"), SPANISH_SYMPTOMS)
def test_spanish_symptoms(nlp: Language, text: str, expected: list[str]) -> None:
    """Spanish lay words (with or without accents) map to the same canonical symptoms."""
    assert _symptoms(nlp, text) == expected


def test_every_symptom_has_spanish_terms() -> None:
    """lexicon/es/symptoms.yml covers every symptom of the English lexicon."""
    spanish = yaml.safe_load((LEXICON_DIR / "es" / "symptoms.yml").read_text(encoding="utf8"))
    assert set(spanish) == set(symptom_names())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no tengo tos", []),
        ("ya no me duele la cabeza", []),
        ("sin fiebre ni tos", []),
        ("no tengo fiebre pero tengo tos", ["cough"]),
        ("ya se me quito el dolor de cabeza", []),
        ("ya pasó el dolor de cabeza", []),
        ("no se si es fiebre", ["fever"]),
        ("nada de nauseas", []),
        ("nunca he tenido ronchas", []),
        ("no he tenido diarrea", []),
        ("el dolor de cabeza no se me quita", ["headache"]),
        ("no puedo dormir por la tos", ["insomnia", "cough"]),
    ],
)
def test_spanish_negation(nlp: Language, text: str, expected: list[str]) -> None:
    """Spanish negation: "no", "sin", "ni", "nada de", "ya no", "se me quitó"; pseudo-negation."""
    assert _symptoms(nlp, text) == expected


def test_spanish_medicines_and_body_parts_are_entities(nlp: Language) -> None:
    """ "La bomba" is the inhaler; brand and generic names map to the English ids."""
    doc = nlp("me salio un salpullido en el brazo desde la bomba y el ibuprofeno")
    found = [(ent.label_, ent.ent_id_) for ent in doc.ents]
    assert found == [
        ("SYMPTOM", "rash"),
        ("BODY_PART", "arm"),
        ("MEDICATION", "inhaler"),
        ("MEDICATION", "ibuprofen"),
    ]
