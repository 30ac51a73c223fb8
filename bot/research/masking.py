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
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # spaCy is imported on first use: importing this module stays cheap
    from spacy.language import Language
    from spacy.tokenizer import Tokenizer
    from spacy.tokens import Doc, Span

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
    charlene charlotte cheryl christina christine christopher cindy clara claudia connie
    cynthia daniel danielle darlene david deborah debbie debra denise dennis derek diana
    diane dolores donald donna doris dorothy douglas earl edith edna edward edwin eileen
    elaine eleanor elizabeth ellen elsie emily emma eric erica ernest esther ethel eugene
    evelyn felicia florence frances francis fred frederick gail gary geoffrey george gerald
    geraldine gladys glenda gloria gordon gregory gwendolyn harold harriet harry helen henry
    herbert howard irene isabel jacqueline james jamie janet janice jason jeffrey jennifer
    jeremy jerome jerry jesse jessica jill jimmy joan joann joanne joel johnny john jonathan
    joseph josephine joshua joyce juan juanita judith judy julia julie justin karen
    katherine kathleen kathryn kathy keith kelly kenneth kevin kimberly kristen kyle larry
    laura lauren lawrence leonard leslie lillian linda lisa lois loretta lori louis louise
    lucille luis lynn marcus margaret maria marian marie marilyn marion marjorie martha
    martin marvin mary matthew maureen megan melanie melissa melvin michael michelle mildred
    monica nancy natalie nathan nicholas nicole norma pamela patricia patrick paul paula
    peggy peter philip phillip phyllis priscilla rachel ralph randy raymond rebecca regina
    renee rhonda richard ricky rita robert roberta robin roger ronald rosa rosemary roy
    russell ruth ryan samantha samuel sandra sara sarah scott sean sharon sheila shirley
    stephanie stephen steve steven susan suzanne sylvia tammy teresa terry theresa thomas
    timothy tina todd tony tracy travis valerie vanessa vera vernon veronica vicki victor
    victoria vincent virginia walter wanda wayne wendy wesley willie william yolanda yvonne
    zachary ben dan jim joe ken ron sam tim tom ted stan kim liz meg beth jen jenny becky
    cathy
    """
)
# Names that are also everyday words ("will", "hope"): masked only after a cue, capitalised.
AMBIGUOUS_NAMES = _words(
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
# After these the cue may be followed by a comma ("thanks, John").
_COMMA_CUES = frozenset({("thanks",), ("thank", "you"), ("regards",), ("cheers",), ("love",)})


def _words_in(value: Any) -> Iterator[str]:
    """Every lower-case word in a YAML value (strings, lists and mappings, keys too)."""
    if isinstance(value, str):
        yield from re.findall(r"[a-z]+", value.lower())
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
    for name in LEXICON_FILES:
        with (LEXICON_DIR / name).open(encoding="utf8") as handle:
            words.update(_words_in(yaml.safe_load(handle)))
    return frozenset(words)


def _familiar_words() -> frozenset[str]:
    """The Dale-Chall familiar words (shipped with textstat), with simple inflections."""
    text = (resources.files("textstat") / "resources" / "en" / "easy_words.txt").read_text("utf8")
    words: set[str] = set()
    for word in text.split():
        base = word.strip().lower()
        words.update({base, base + "s", base + "es", base + "ed", base + "ing", base + "ly"})
    return frozenset(words)


def everyday_words(nlp: Language) -> frozenset[str]:
    """Words that are never taken for a name on their own (the first names excepted)."""
    stop_words = {word.lower() for word in nlp.Defaults.stop_words}
    words = _familiar_words() | _lexicon_words() | stop_words | CHAT_WORDS
    return frozenset(words - FIRST_NAMES - AMBIGUOUS_NAMES)


# Token classes (written to `Token.tag_`, which a blank pipeline leaves empty) that the
# name patterns match on: a short class instead of long word lists keeps the ruler fast.
KNOWN, AMBIGUOUS, OPEN, EVERYDAY = "NAME_KNOWN", "NAME_AMBIGUOUS", "WORD_OPEN", "WORD_EVERYDAY"


def _name_tokens(*, strong: bool) -> list[dict[str, Any]]:
    """The ways one name word may look after a cue (strong: "my name is")."""
    if strong:
        return [{"TAG": {"IN": [KNOWN, AMBIGUOUS, OPEN]}}]
    return [{"TAG": KNOWN}, {"TAG": {"IN": [AMBIGUOUS, OPEN]}, "IS_TITLE": True}]


def _surname(*, strong: bool) -> dict[str, Any]:
    """An optional second name word (a surname)."""
    if strong:
        return {"TAG": {"IN": [KNOWN, OPEN]}, "OP": "?"}
    return {"TAG": {"IN": [KNOWN, OPEN]}, "IS_TITLE": True, "OP": "?"}


def _cue_tokens(cue: Iterable[str]) -> list[dict[str, Any]]:
    """A cue phrase as token patterns (matched in any case)."""
    return [{"LOWER": word} for word in cue]


def _cued_patterns(cue: list[dict[str, Any]], *, strong: bool) -> list[dict[str, Any]]:
    """Entity-ruler patterns for a cue then a name; the id says how many tokens are cue."""
    return [
        {"label": NAME_LABEL, "id": str(len(cue)), "pattern": [*cue, name, _surname(strong=strong)]}
        for name in _name_tokens(strong=strong)
    ]


def name_patterns() -> list[dict[str, Any]]:
    """Every name pattern of the entity ruler."""
    patterns: list[dict[str, Any]] = []
    for cue in _CUE_STRONG:
        patterns += _cued_patterns(_cue_tokens(cue), strong=True)
    for cue in _CUE_MEDIUM:
        patterns += _cued_patterns(_cue_tokens(cue), strong=False)
        if cue in _COMMA_CUES:
            patterns += _cued_patterns([*_cue_tokens(cue), {"ORTH": ","}], strong=False)
    for title in _HONORIFICS:
        patterns += _cued_patterns([{"LOWER": title}], strong=False)
    possessive = {"LOWER": {"IN": ["my", "our", "his", "her"]}}
    for relative in _RELATIVES:
        patterns += _cued_patterns([possessive, {"LOWER": relative}], strong=False)
    patterns.append(
        {"label": NAME_LABEL, "id": "0", "pattern": [{"TAG": KNOWN}, _surname(strong=False)]}
    )
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
        self.ruler = self.nlp.add_pipe("entity_ruler", config={"validate": True})
        self.ruler.add_patterns(name_patterns())  # type: ignore[attr-defined]

    def _classify(self, doc: Doc) -> Doc:
        """Tag every word with its class (first name, everyday word, other word)."""
        for token in doc:
            lower = token.lower_
            if lower in FIRST_NAMES:
                token.tag_ = KNOWN
            elif lower in AMBIGUOUS_NAMES:
                token.tag_ = AMBIGUOUS
            elif lower in self.everyday or len(lower) < 2 or not _word_like(token.text):
                token.tag_ = EVERYDAY
            else:
                token.tag_ = OPEN
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
    """The name words of a ruler match (its id is the number of cue tokens before them)."""
    cue_length = int(entity.ent_id_ or 0)
    return entity[cue_length:]


def _extended(doc: Doc, start: int, end: int) -> int:
    """Extend a name over hyphenated parts written without spaces ("Mary-Jane")."""
    while (
        end + 1 < len(doc)
        and doc[end].text in {"-", "\u2010"}
        and not doc[end - 1].whitespace_
        and not doc[end].whitespace_
        and doc[end + 1].is_alpha
    ):
        end += 2
    return end


def _name_ranges(doc: Doc) -> list[tuple[int, int]]:
    """Character ranges of the names found, merged when adjacent."""
    ranges: list[tuple[int, int]] = []
    for entity in doc.ents:
        if entity.label_ != NAME_LABEL:
            continue
        part = _name_part(entity)
        if len(part) == 0:
            continue
        end = _extended(doc, part.start, part.end)
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
