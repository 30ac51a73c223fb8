"""Masking personal details in participant messages before they leave the system.

`mask_text(text)` replaces what could identify someone with a placeholder and keeps the
rest (symptoms, medicines, doses, times, study words) word for word:

- regular expressions, first: URLs with a query string or fragment (`[url]`), email
  addresses (`[email]`), phone numbers in the common formats (`[phone]`), US social
  security numbers (`[id]`), street addresses (`[address]`), dates of birth after a cue
  ("dob", "born", "birthday": `[date]`) and @handles (`[name]`);
- then names (`[name]`), with spaCy: a blank English tokenizer and an entity ruler whose
  patterns are a cue followed by a name-like word ("my name is X", "this is X", "I'm X",
  "Dr X", "my wife X", "thanks, X") or a common first name anywhere. A word counts as
  name-like when it is capitalised and not an everyday word (the Dale-Chall familiar
  words, spaCy's stop words, the project's symptom, body-part and medicine lexicon);
  after "my name is" any word that is not an everyday one does.

Spanish works the same way, and the two mix ("my hija Rosa"). Words are compared with
their accents folded ("José" is "jose", "mamá" "mama"), so cues and names match typed
either way. Cues: "me llamo", "mi nombre es", "de parte de", "le habla" (strong); "soy",
"habla", "con", "hola", "gracias,", "saludos,", "atte" (medium); "el doctor", "la Dra.",
"la enfermera", "Sr." (titles); "mi hija", "su esposo", "la hija de" (relatives). Spanish
everyday words are the Spanish lexicon (bot/nlp/lexicon/es), spaCy's Spanish stop words and
a list of chat words ("Hola", "Tengo", "Fiebre"). textstat's Spanish list is a frequency
list of 20,000 words that holds surnames and first names ("garcía", "josé"): its words
count as names only after a strong cue, a title or a relative, or as a surname. Spanish
first names that are words ("Dolores", "Luz", "Socorro") are masked only when capitalised
after a cue, or at the start before "me" or "nos" ("Luz me ayuda"); never in lower case.
A name takes further surnames and particles with it ("María de la Cruz López").

It is fast (one tokenizer pass and a rule matcher, no model: about 0.1 ms a message), and
spaCy is only imported on first use. One pipeline is shared; each call makes its own doc.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

if TYPE_CHECKING:  # spaCy is imported on first use: importing this module stays cheap
    from spacy.language import Language
    from spacy.tokenizer import Tokenizer
    from spacy.tokens import Doc, Span, Token

logger = logging.getLogger(__name__)

NAME = "[name]"
PHONE = "[phone]"
EMAIL = "[email]"
URL = "[url]"
ID = "[id]"
ADDRESS = "[address]"
DATE = "[date]"

LEXICON_DIR = Path(__file__).resolve().parent.parent / "nlp" / "lexicon"
LEXICON_FILES = ("symptoms.yml", "medications.yml", "body_parts.yml", "spelling.yml")
NAME_LABEL = "PERSON"
MIN_PHONE_DIGITS = 7

# --- patterns that need no tokenizer --------------------------------------------------

_TRAILING = r"[^\s.,!?;:)\]}'\"]"
_URL_QUERY = re.compile(rf"(?:https?://|www\.)[^\s?#]*[?#]\S*{_TRAILING}", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_DOT = r"(?:\.|\s*[(\[]dot[)\]]\s*|\s+dot\s+)"
_SPELLED_EMAIL = re.compile(
    rf"\b[\w+-]+(?:{_DOT}[\w+-]+)*(?:\s*[(\[]at[)\]]\s*|\s+at\s+)[A-Za-z0-9-]+{_DOT}"
    r"(?:com|org|net|edu|gov|us|uk|ca|io|co)(?![\w-])",
    re.IGNORECASE,
)
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
_SEP = r"[ .-]?"
_PHONE = re.compile(
    r"(?<![\w/:.+-])(?:"
    # +44 20 7946 0958, +1 (312) 555-0123, +13125550123: a leading + is a strong sign
    r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"
    # (312) 555-0123, 312-555-0123, 312.555.0123, 1-800-555-0199, 3125550123
    rf"|(?:1{_SEP})?(?:\(\d{{3}}\)\s?|\d{{3}}{_SEP})\d{{3}}{_SEP}\d{{4}}"
    # 020 7946 0958, 07700 900123 (a trunk 0, as in the UK and much of Europe)
    r"|0\d{2,4}[ .-]?\d{3,4}[ .-]?\d{3,4}"
    # 555-0123 (a local number: a dash or a dot, never a space, between the groups; not a
    # range of something counted, "800-1200 steps")
    r"|\d{3}[.-]\d{4}(?!\s*(?:steps|mg|mcg|ml|cal|calories|kcal|ft|feet|miles|units|times)\b)"
    r")(?![\w/:]|[.-]\d)"
)
_STREET = (
    r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Court|Ct|Way|Place|Pl"
    r"|Terrace|Circle|Highway|Hwy|Parkway|Pkwy"
)
_ADDRESS = re.compile(rf"\b\d{{1,5}}(?:\s+[A-Z][a-z]+){{1,3}}\s+(?:{_STREET})\b\.?")
_DATE_VALUE = (
    r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?"
    r"(?:,?\s+\d{4})?"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)"
    r"[a-z]*(?:,?\s+\d{4})?"
)
_BIRTH_DATE = re.compile(
    rf"(?P<cue>\b(?:dob|d\.o\.b\.?|date of birth|born(?: on)?|birthday(?: is)?|bday(?: is)?)"
    rf"\b\s*(?:is\s+|:\s*|on\s+)?)(?P<date>{_DATE_VALUE})",
    re.IGNORECASE,
)
_HANDLE = re.compile(r"(?<![\w.@])@[A-Za-z][\w.]{2,}\w")

# Order matters: a URL can hold an email address, an email address digits (phone numbers
# come after these, through _phone).
_REGEX_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (_URL_QUERY, URL),
    (_EMAIL, EMAIL),
    (_SPELLED_EMAIL, EMAIL),
    (_SSN, ID),
    (_ADDRESS, ADDRESS),
    (_HANDLE, NAME),
)

# --- names ------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    """A set of words written as a block of text."""
    return frozenset(text.split())


# Common first names that are hardly ever anything else: masked wherever they appear.
FIRST_NAMES = _words(
    """
    aaron abigail adam alan albert alexander alexis alice alicia allison amanda amy andrea
    andrew angela anita ann anna anne annette anthony antonio arthur ashley barbara beatrice
    benjamin bernard betty beverly billy bobby bonnie brandon brenda brian brittany bruce
    bryan carl carla carlos carmen carol carole caroline carolyn catherine cathy charles
    charlene charlotte cheryl christina christine christopher cindy claudia connie
    cynthia daniel danielle darlene david deborah debbie debra denise dennis derek diana
    diane donald donna doris dorothy douglas earl edith edna edward edwin eileen
    elaine eleanor elizabeth ellen elsie emily emma eric erica ernest esther ethel eugene
    evelyn felicia florence francis fred frederick gail gary geoffrey george gerald
    geraldine gladys glenda gordon gregory gwendolyn harold harriet harry helen henry
    herbert howard irene isabel jacqueline james jamie janet janice jason jeffrey jennifer
    jeremy jerome jerry jesse jessica jill jimmy joan joann joanne joel johnny john jonathan
    joseph josephine joshua joyce juan juanita judith judy julia julie justin karen
    katherine kathleen kathryn kathy keith kelly kenneth kevin kimberly kristen kyle larry
    laura lauren lawrence leonard leslie lillian linda lisa lois loretta lori louis louise
    lucille luis lynn marcus margaret maria marian marie marilyn marion marjorie martha
    martin marvin mary matthew maureen megan melanie melissa melvin michael michelle mildred
    monica nancy natalie nathan nicholas nicole pamela patricia patrick paul paula
    peggy peter philip phillip phyllis priscilla rachel ralph randy raymond rebecca regina
    renee rhonda richard ricky rita robert roberta robin roger ronald rosemary roy
    russell ruth ryan samantha samuel sandra sara sarah scott sharon sheila shirley
    stephanie stephen steve steven susan suzanne sylvia tammy teresa terry theresa thomas
    timothy tina todd tony tracy travis valerie vanessa vernon veronica vicki victor
    victoria vincent virginia walter wanda wayne wendy wesley willie william yolanda yvonne
    zachary ben jim joe ken ron sam tim tom ted stan kim liz meg beth jen jenny becky
    cathy
    """
) | _words(
    # Hispanic ones, written without accents: words are compared folded ("José" is "jose").
    """
    adriana alejandra alejandro alfonso alfredo ana andres angelica araceli arturo beatriz
    benito beto carolina cecilia chayo chuy cristian cristobal daniela diego eduardo elena
    emilio enrique erika ernesto esteban estela fabiola felipe fernanda fernando francisco
    gabriela gerardo gilberto gonzalo graciela guadalupe guillermo gustavo hector hugo
    humberto ignacio irma jaime javier joaquin jorge jose josefina juana julian karla lalo
    leticia liliana lorena lourdes lucia luisa lupe lupita magdalena manuel marcela maribel
    maricela marisol marta mauricio mayra miguel nayeli noemi octavio olga oscar paco pancho
    paola pedro pepe rafael ramon raquel raul reyna ricardo rigoberto rodolfo rogelio ruben
    santiago sergio sofia susana ulises valeria vicente viviana wilfredo xochitl ximena
    yadira yesenia
    """
)
# Spanish first names that are also everyday words ("dolores" are pains, "luz" is light,
# "socorro" a cry for help; English ones too: "me dan" is "they give me", "francés" French,
# "verá" "will see"): masked only after a cue, capitalised, like AMBIGUOUS_NAMES. A
# capitalised one at the start, before "me", "nos"..., is a name too ("Luz me ayuda").
AMBIGUOUS_NAMES_ES = _words(
    """
    alba alma amado amparo angeles armando asuncion blanca caridad celeste cesar chela
    clara clemente concepcion conchita consuelo cruz dan dolores domingo esmeralda
    esperanza estrella frances gloria gracia julio leon luz marco margarita mercedes
    milagros modesto nacho natividad norma paloma paz perla pilar reina remedios rocio
    rosa rosario salvador sean socorro soledad tomas trinidad vera
    """
)
# Names that are also everyday words ("will", "hope"): masked only after a cue, capitalised.
AMBIGUOUS_NAMES = AMBIGUOUS_NAMES_ES | _words(
    """
    al amber angel art austin bill bob bud buddy carter chase chris christian chuck cole
    crystal dawn dean destiny don dot ed eve faith frank gene glen grace grant guy harmony
    hazel heather holly hope hunter iris ivy jack jade jan jordan joy kay kit lance lane
    lily mark max miles nick norm olive pat pearl penny ray reed rich rob rod rose ruby
    rusty sandy sue summer sunny taylor violet wade warren will
    """
)
# Words that look capitalised in chat but are not names (in addition to the word lists).
CHAT_WORDS = _words(
    """
    ok okay alright fine good great well better worse tired sick dizzy sorry sure glad
    feeling doing going getting trying taking having being ready done home back late busy
    awake scared worried confused lost still just new old allergic diabetic pregnant yes
    yeah yep yup no nope nah hi hello hey thanks thank please pls plz lol omg god jesus lord
    today tomorrow tonight yesterday morning afternoon evening night noon week weeks day
    days month months year years later now soon asap time monday tuesday wednesday thursday
    friday saturday sunday january february march april may june july august september
    october november december study trial research nurse doctor doc dr coordinator
    practitioner assistant aide team staff clinic hospital pharmacy pharmacist er icu visit
    appointment checkin check survey placebo drug medicine medication meds pill pills dose
    doses inhaler puffs puff mg ml copd covid flu helper bot robot assistant human person
    someone somebody english spanish american ma mam maam sir madam mr mrs ms miss mister
    """
) | _words(
    # Spanish ones (folded): what people capitalise at the start of a message.
    """
    hola holi buenas buenos dias tardes noches gracias grax porfa porfavor xfa disculpe
    disculpa perdon oiga oye ok oki okey sip nop nel simon claro vale jaja jeje ja je
    tengo tiene tuve estoy estuve ando anduve siento senti sigo amaneci quiero puedo
    necesito tome tomo olvide fui voy vino ayuda ayudenme llamen llamar llamenme mande
    manana hoy ayer anoche ahorita orita luego lunes martes miercoles jueves viernes sabado
    enero febrero marzo abril mayo junio agosto septiembre setiembre octubre noviembre
    diciembre semana mes doctor doctora dra doc enfermera enfermero medico medica
    coordinadora coordinador estudio investigacion cita visita consulta clinica hospital
    farmacia pastilla pastillas medicina medicinas dosis inhalador placebo fiebre dolor
    tos mareo bien mal mejor peor regular cansado cansada enfermo enferma triste
    preocupado preocupada asustado asustada diabetico diabetica embarazada alergico alergica
    senor senora senorita sr sra srta dona mija mijo mami papi ama apa abuelita
    abuelito dios diosito virgen bendiciones amen saludos atte atentamente espanol ingles
    """
)
_CUE_MEDIUM = (
    ("this", "is"),
    ("it", "is"),
    ("it", "'s"),
    ("it", "\u2019s"),
    ("its",),
    ("i", "am"),
    ("i", "'m"),
    ("i", "\u2019m"),
    ("i", "m"),
    ("call", "me"),
    ("they", "call", "me"),
    ("i", "go", "by"),
    ("hi",),
    ("hello",),
    ("hey",),
    ("dear",),
    ("thanks",),
    ("thank", "you"),
    ("regards",),
    ("cheers",),
    ("love",),
    ("sincerely",),
    ("signed",),
    ("ask", "for"),
    ("speak", "to"),
    ("talk", "to"),
    ("speak", "with"),
    ("talk", "with"),
    ("tell",),
)
_CUE_STRONG = (
    ("my", "name", "is"),
    ("my", "name", "'s"),
    ("my", "name", "\u2019s"),
    ("my", "names"),
    ("name", "is"),
    ("name", ":"),
    ("name", "'s"),
    ("names",),
    ("i", "am", "called"),
    ("i", "'m", "called"),
)
_HONORIFICS = (
    "dr",
    "dr.",
    "doctor",
    "nurse",
    "mr",
    "mr.",
    "mrs",
    "mrs.",
    "ms",
    "ms.",
    "miss",
    "prof",
    "prof.",
    "professor",
    "sister",
    "father",
    "pastor",
    "aunt",
    "auntie",
    "uncle",
    "grandma",
    "grandpa",
    "coach",
)
_RELATIVES = (
    "wife",
    "husband",
    "son",
    "daughter",
    "sister",
    "brother",
    "mom",
    "mum",
    "mother",
    "dad",
    "father",
    "friend",
    "neighbor",
    "neighbour",
    "caregiver",
    "carer",
    "partner",
    "grandson",
    "granddaughter",
    "niece",
    "nephew",
    "boyfriend",
    "girlfriend",
    "cousin",
    "aunt",
    "uncle",
)
# After these the cue may be followed by a comma ("thanks, John", "gracias, Lupita").
_COMMA_CUES = frozenset(
    {
        ("thanks",),
        ("thank", "you"),
        ("regards",),
        ("cheers",),
        ("love",),
        ("hola",),
        ("gracias",),
        ("saludos",),
    }
)

# Spanish cues, written without accents: they are matched on the words with their accents
# folded ("mamá" is "mama", "Sofía" "sofia"), so participants may type them either way.
_CUE_STRONG_ES = (
    ("me", "llamo"),
    ("mi", "nombre", "es"),
    ("de", "parte", "de"),
    ("le", "habla"),
    ("les", "habla"),
)
# "con" too: "hablo con Jose", "vengo con Esperanza"; the everyday-word rule keeps "con
# Dolor", "con Fiebre", "con Mucho gusto" (a symptom or a common word is no name there).
_CUE_MEDIUM_ES = (
    ("soy",),
    ("yo", "soy"),
    ("habla",),
    ("me", "dicen"),
    ("con",),
    ("hola",),
    ("gracias",),
    ("saludos",),
    ("atte",),
    ("atte", "."),
    ("atentamente",),
    ("pregunte", "por"),
)
# Titles; the abbreviations are also matched followed by their full stop ("Dra. Pérez").
_HONORIFICS_ES = (
    "doctor",
    "doctora",
    "enfermera",
    "enfermero",
    "senor",
    "senora",
    "senorita",
    "don",
    "dona",
    "licenciado",
    "licenciada",
    "padre",
    "tio",
    "tia",
)
_ABBREVIATIONS_ES = ("dr", "dra", "sr", "sra", "srta", "lic")
_RELATIVES_ES = (
    "esposo",
    "esposa",
    "marido",
    "mujer",
    "hijo",
    "hija",
    "mama",
    "papa",
    "madre",
    "padre",
    "hermano",
    "hermana",
    "abuela",
    "abuelo",
    "nieto",
    "nieta",
    "tio",
    "tia",
    "primo",
    "prima",
    "novio",
    "novia",
    "vecino",
    "vecina",
    "amigo",
    "amiga",
    "cunado",
    "cunada",
    "suegra",
    "suegro",
    "nuera",
    "yerno",
    "sobrino",
    "sobrina",
    "comadre",
    "compadre",
    "cuidadora",
    "cuidador",
    "pareja",
)
_POSSESSIVES = ("my", "our", "his", "her", "mi", "mis", "su", "sus", "tu", "nuestra", "nuestro")
# A capitalised Spanish name that is also a word, at the start of a message and followed by
# an object pronoun, is the subject ("Luz me ayuda", "Rosa nos lleva"): Spanish puts an
# article before a noun there ("la luz me molesta").
_CLITICS_ES = ("me", "te", "le", "les", "nos", "lo")
# Spanish surnames may begin with a particle: "de la Cruz", "del Rio", "de los Santos".
_PARTICLES = frozenset({"de", "del"})
_PARTICLE_ARTICLES = frozenset({"la", "las", "los"})
_ACCENTS = str.maketrans("áéíóúüñàèìòùâêîôûç", "aeiouunaeiouaeiouc")


def _folded(text: str) -> str:
    """Lower case without accents ("José" is "jose"): how the word lists are written."""
    return text.lower().translate(_ACCENTS)


def _words_in(value: Any) -> Iterator[str]:
    """Every lower-case word in a YAML value (strings, lists and mappings, keys too)."""
    if isinstance(value, str):
        yield from re.findall(r"[a-z]+", _folded(value))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _words_in(str(key))
            yield from _words_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _words_in(item)


def _lexicon_words() -> frozenset[str]:
    """The words of the project's symptom, medicine, body-part and spelling lexicon."""
    words: set[str] = set()
    for folder in (LEXICON_DIR, LEXICON_DIR / "es"):
        for name in LEXICON_FILES:
            with (folder / name).open(encoding="utf8") as handle:
                words.update(_words_in(yaml.safe_load(handle)))
    return frozenset(words)


def _textstat_words(language: str) -> list[str]:
    """The word list textstat ships for a language, folded."""
    text = (resources.files("textstat") / "resources" / language / "easy_words.txt").read_text(
        "utf8"
    )
    return [_folded(word.strip()) for word in text.split()]


def _familiar_words() -> frozenset[str]:
    """The Dale-Chall familiar words (shipped with textstat), with simple inflections."""
    words: set[str] = set()
    for base in _textstat_words("en"):
        words.update({base, base + "s", base + "es", base + "ed", base + "ing", base + "ly"})
    return frozenset(words)


def everyday_words(nlp: Language) -> frozenset[str]:
    """Words that are never taken for a name on their own (the first names excepted)."""
    from spacy.lang.es.stop_words import STOP_WORDS as SPANISH_STOP_WORDS

    stop_words = {_folded(word) for word in nlp.Defaults.stop_words | SPANISH_STOP_WORDS}
    words = _familiar_words() | _lexicon_words() | stop_words | CHAT_WORDS
    return frozenset(words - FIRST_NAMES - AMBIGUOUS_NAMES)


def common_spanish_words(everyday: frozenset[str]) -> frozenset[str]:
    """textstat's 20,000 commonest Spanish words that are not everyday ones or first names.

    It is a frequency list of written Spanish, not a list of familiar words: it holds
    surnames ("garcía" is the 565th word, "torres", "flores", "castillo") and first names
    ("josé" the 183rd). Such a word is a name only when capitalised after a strong cue, a
    title, a relative or a first name ("me llamo Lupita Garcia", "el doctor Flores").
    """
    return frozenset(_textstat_words("es")) - everyday - FIRST_NAMES - AMBIGUOUS_NAMES


# Token classes (written to `Token.tag_`, which a blank pipeline leaves empty) that the
# name patterns match on: a short class instead of long word lists keeps the ruler fast.
KNOWN, AMBIGUOUS, OPEN = "NAME_KNOWN", "NAME_AMBIGUOUS", "WORD_OPEN"
COMMON, EVERYDAY = "WORD_COMMON", "WORD_EVERYDAY"
# How much a cue says that a name follows: "my name is" (strong), "Dr", "my wife" (title),
# "this is", "soy", "con" (medium).
CueKind = Literal["strong", "title", "medium"]


def _name_tokens(kind: CueKind) -> list[dict[str, Any]]:
    """The ways one name word may look after a cue."""
    if kind == "strong":
        return [{"TAG": {"IN": [KNOWN, AMBIGUOUS, OPEN, COMMON]}}]
    capitalised = [AMBIGUOUS, OPEN, COMMON] if kind == "title" else [AMBIGUOUS, OPEN]
    return [{"TAG": KNOWN}, {"TAG": {"IN": capitalised}, "IS_TITLE": True}]


def _surname(kind: CueKind) -> dict[str, Any]:
    """An optional second name word (a surname; _extended takes any further ones)."""
    surname: dict[str, Any] = {"TAG": {"IN": [KNOWN, OPEN, COMMON]}, "OP": "?"}
    if kind != "strong":
        surname["IS_TITLE"] = True
    return surname


def _cue_tokens(cue: Iterable[str], *, attribute: str = "LOWER") -> list[dict[str, Any]]:
    """A cue phrase as token patterns (matched in any case; NORM: accents folded too)."""
    return [{attribute: word} for word in cue]


def _cued_patterns(cue: list[dict[str, Any]], kind: CueKind) -> list[dict[str, Any]]:
    """Entity-ruler patterns for a cue then a name; the id says how many tokens are cue."""
    return [
        {
            "label": NAME_LABEL,
            "id": str(len(cue)),
            "pattern": [*cue, name, _surname(kind)],
        }
        for name in _name_tokens(kind)
    ]


def _phrase_cue_patterns() -> list[dict[str, Any]]:
    """Patterns for the cue phrases ("my name is", "soy"), commas after sign-offs."""
    patterns: list[dict[str, Any]] = []
    phrases: list[tuple[tuple[tuple[str, ...], ...], CueKind, str]] = [
        (_CUE_STRONG, "strong", "LOWER"),
        (_CUE_MEDIUM, "medium", "LOWER"),
        (_CUE_STRONG_ES, "strong", "NORM"),
        (_CUE_MEDIUM_ES, "medium", "NORM"),
    ]
    for cues, kind, attribute in phrases:
        for cue in cues:
            tokens = _cue_tokens(cue, attribute=attribute)
            patterns += _cued_patterns(tokens, kind)
            if cue in _COMMA_CUES:
                patterns += _cued_patterns([*tokens, {"ORTH": ","}], kind)
    return patterns


def _title_cue_patterns() -> list[dict[str, Any]]:
    """Patterns for titles ("Dr", "la Dra.") and relatives ("my wife", "la hija de")."""
    titles: list[list[dict[str, Any]]] = [[{"LOWER": title}] for title in _HONORIFICS]
    titles += [[{"NORM": title}] for title in _HONORIFICS_ES + _ABBREVIATIONS_ES]
    titles += [[{"NORM": title}, {"ORTH": "."}] for title in _ABBREVIATIONS_ES]
    possessive = {"NORM": {"IN": list(_POSSESSIVES)}}
    titles += [[possessive, {"NORM": relative}] for relative in _RELATIVES + _RELATIVES_ES]
    titles += [[{"NORM": relative}, {"NORM": "de"}] for relative in _RELATIVES_ES]
    return [pattern for cue in titles for pattern in _cued_patterns(cue, "title")]


def name_patterns() -> list[dict[str, Any]]:
    """Every name pattern of the entity ruler."""
    patterns = _phrase_cue_patterns() + _title_cue_patterns()
    patterns.append(
        {
            "label": NAME_LABEL,
            "id": "0",
            "pattern": [{"TAG": KNOWN}, _surname("medium")],
        }
    )
    subject = {"IS_SENT_START": True, "IS_TITLE": True, "NORM": {"IN": sorted(AMBIGUOUS_NAMES_ES)}}
    clitic = {"LOWER": {"IN": list(_CLITICS_ES)}}
    patterns.append({"label": NAME_LABEL, "id": "0,1", "pattern": [subject, clitic]})
    return patterns


_APOSTROPHE_NAME = re.compile("[A-Za-z]+['\u2019][A-Za-z]+")


def _word_like(text: str) -> bool:
    """Letters only, or a name with an apostrophe inside ("O'Neil")."""
    return text.isalpha() or _APOSTROPHE_NAME.fullmatch(text) is not None


class NameFinder:
    """spaCy's English tokenizer, a token classifier and an entity ruler of name patterns."""

    def __init__(self) -> None:
        import spacy

        self.nlp = spacy.blank("en")
        self.tokenizer: Tokenizer = self.nlp.tokenizer
        self.everyday = everyday_words(self.nlp)
        self.common = common_spanish_words(self.everyday)
        self.ruler = self.nlp.add_pipe("entity_ruler", config={"validate": True})
        self.ruler.add_patterns(name_patterns())  # type: ignore[attr-defined]

    def _class(self, token: Token) -> str:
        """The class of a word (its norm_ is its folded form)."""
        word = token.norm_
        if word in FIRST_NAMES:
            return KNOWN
        if word in AMBIGUOUS_NAMES:
            return AMBIGUOUS
        if word in self.everyday or len(word) < 2 or not _word_like(token.text):
            return EVERYDAY
        return COMMON if word in self.common else OPEN

    def _classify(self, doc: Doc) -> Doc:
        """Tag every word with its class, and set its norm to its folded form."""
        for token in doc:
            token.norm_ = _folded(token.text)
            token.tag_ = self._class(token)
        return doc

    def find(self, text: str) -> Doc:
        """The doc of a text, with the names found as entities."""
        return self.ruler(self._classify(self.nlp.make_doc(text)))

    def find_all(self, texts: Iterable[str]) -> Iterator[Doc]:
        """find() for many texts."""
        for doc in self.tokenizer.pipe(texts):
            yield self.ruler(self._classify(doc))


@lru_cache(maxsize=1)
def name_finder() -> NameFinder:
    """The shared name finder, built on first use (each call makes its own doc)."""
    finder = NameFinder()
    logger.info("masking: %d name patterns ready", len(finder.ruler))  # type: ignore[arg-type]
    return finder


def _phone(match: re.Match[str]) -> str:
    """PHONE for a number of at least seven digits ("+1 2 3" stays)."""
    digits = sum(character.isdigit() for character in match.group())
    return PHONE if digits >= MIN_PHONE_DIGITS else match.group()


def _regex_masked(text: str) -> str:
    """The text with URLs, emails, phone numbers and the like replaced."""
    text = _BIRTH_DATE.sub(lambda match: match.group("cue") + DATE, text)
    for pattern, placeholder in _REGEX_MASKS:
        text = pattern.sub(placeholder, text)
    return _PHONE.sub(_phone, text)


def _name_part(entity: Span) -> Span:
    """The name words of a ruler match (its id: how many cue tokens before them, after)."""
    before, _, after = (entity.ent_id_ or "0").partition(",")
    return entity[int(before) : len(entity) - int(after or 0)]


def _hyphenated_part(doc: Doc, end: int) -> int | None:
    """The end of a part joined by a hyphen with no spaces ("Mary-Jane"), if one follows."""
    if (
        end + 1 < len(doc)
        and doc[end].text in {"-", "\u2010"}
        and not doc[end - 1].whitespace_
        and not doc[end].whitespace_
        and doc[end + 1].is_alpha
    ):
        return end + 2
    return None


def _particle_part(doc: Doc, end: int) -> int | None:
    """The end of a surname after "de", "del", "de la" ("María de la Cruz"), if one follows."""
    if end >= len(doc) or doc[end].norm_ not in _PARTICLES:
        return None
    end += 1
    if end < len(doc) and doc[end].norm_ in _PARTICLE_ARTICLES:
        end += 1
    if end < len(doc) and doc[end].is_title and doc[end].tag_ != EVERYDAY:
        return end + 1
    return None


def _further_name(doc: Doc, end: int) -> int | None:
    """The end of one more capitalised name word (a second surname), if one follows."""
    if end < len(doc) and doc[end].is_title and doc[end].tag_ in {KNOWN, OPEN, COMMON}:
        return end + 1
    return None


def _extended(doc: Doc, end: int) -> int:
    """Extend a name over hyphenated parts, Spanish particles and further surnames
    ("Mary-Jane", "de la Cruz", "Garcia Lopez")."""
    while True:
        ends = (part(doc, end) for part in (_hyphenated_part, _particle_part, _further_name))
        after = next((found for found in ends if found is not None), None)
        if after is None:
            return end
        end = after


def _name_ranges(doc: Doc) -> list[tuple[int, int]]:
    """Character ranges of the names found, merged when adjacent."""
    ranges: list[tuple[int, int]] = []
    for entity in doc.ents:
        if entity.label_ != NAME_LABEL:
            continue
        part = _name_part(entity)
        if len(part) == 0:
            continue
        end = _extended(doc, part.end)
        start_char, end_char = part.start_char, doc[end - 1].idx + len(doc[end - 1].text)
        if ranges and doc.text[ranges[-1][1] : start_char].strip() == "":
            ranges[-1] = (ranges[-1][0], end_char)
        else:
            ranges.append((start_char, end_char))
    return ranges


def _names_masked(doc: Doc) -> str:
    """The doc's text with every name replaced by NAME."""
    text = doc.text
    for start, end in reversed(_name_ranges(doc)):
        text = text[:start] + NAME + text[end:]
    return text


def mask_text(text: str) -> str:
    """The message with phone numbers, emails, URLs with queries and names masked."""
    if not text or not text.strip():
        return text
    return _names_masked(name_finder().find(_regex_masked(text)))


def mask_texts(texts: Iterable[str]) -> list[str]:
    """mask_text for many messages at once (faster for an export)."""
    prepared = [_regex_masked(text) if text else "" for text in texts]
    return [_names_masked(doc) for doc in name_finder().find_all(prepared)]
