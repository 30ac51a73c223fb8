"""Which language a message is in, a request to change language, and the NLU component.

Participants write short, misspelled, mixed messages ("hola, q es un placebo", "ok gracias",
"my inhaler no funciona"), so a statistical language identifier trained on clean prose is
a poor fit, and nothing may be downloaded. Instead the message's words are scored against
two small lists of words that are frequent in one language's texting and rare in the
other's (function words, greetings, texting abbreviations, the assistant's own domain
words), plus Spanish-only letters (ñ, ¿, ¡, accented vowels). A message with no evidence,
or as much for one as for the other, has no language (None): the caller keeps what it had.

`requested_language` reads a whole message that asks to change language ("español",
"in english please", "cambiar idioma"): only short messages that are nothing but the
request, so "my spanish teacher said…" or a symptom message never switches.

The Rasa NLU component that uses these is `bot.nlp.language_tag.LanguageTag`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from bot.core.languages import ENGLISH, LANGUAGE_SLOT, LANGUAGES, SPANISH


def _word_set(words: str) -> frozenset[str]:
    """A set of words written as one string."""
    return frozenset(words.split())


_SPANISH_LETTERS = re.compile(r"[ñ¿¡áéíóú]")
_WORD = re.compile(r"[a-z]+")

# Frequent in Spanish texting, rare in English (accents stripped; "no", "me", "a", "ok",
# "doctor", "robot"… are in neither list: they are common in both, or in Spanglish).
_SPANISH_WORDS = _word_set(
    """
    que q k ke de del el la los las un una unos unas es son esta estan estoy estas soy
    eres mi mis tu tus su sus y o pero por porque xq pq para pa como cuando donde cuanto
    cuanta cuantos quien cual hola ola buenas buenos dias tardes noches gracias grax
    adios chao bueno si claro tambien tmb tb muy mucho mucha poco poquito mas menos
    ya aqui aca ahi ahora ahorita orita hoy ayer manana tengo tiene tienen tenia puedo
    puede quiero quiere necesito nesesito voy va vamos hay hace hacer ser estar sentir
    siento senti duele dolor pecho cabeza respirar aire falta ayuda ayudame estudio
    medicina medicamento pastilla pastillas inhalador bomba cita visita enfermera enfermero
    doctora llamar llamen llama dinero pago pagan cuesta salir dejar bien mal
    malo mala enfermo enferma cansado cansada nada nunca algo todo todos eso esto ese este
    esa lo le les nos se te sin sobre entre hasta desde tos gripa calentura fiebre mareo
    vomito sangre hablar persona humano maquina olvide olvido tome tomar
    cambiar idioma espanol ingles castellano porfa favor xfa perdon disculpe entiendo
    nel simon orale pos pues neta oye sale vale
    entendi explica otra vez dime digame oye oiga usted ustedes ella ellos el nomas
    """
)

# Frequent in English texting, rare in Spanish (accents stripped).
_ENGLISH_WORDS = _word_set(
    """
    the i im ive my mine you your youre u ur is are am was were be been being it its
    this that what whats how when where who why which and or but if so of to for from
    with in on at by about have has had do does did dont didnt cant cannot wont can will
    would should could not just get got feel feeling felt hi hello hey thanks thank thx
    ty bye goodbye yes yeah yep nope please pls plz help need want know think
    today tomorrow yesterday now then here there chest pain hurt hurts breathe breath
    breathing cough study medicine pill pills inhaler visit nurse call money pay
    paid cost leave quit good bad sick tired very much more less some any all nothing
    something again say mean understand english spanish language talk person human bot
    forgot took take dose hospital er emergency dizzy throw throwing up blood
    we they he she them us our their an
    """
)

# Whole-message requests to change language: after the words of asking are dropped, only
# a language's name may be left ("en español por favor", "switch to english please");
# "cambiar idioma" / "change language" switch to the other language.
_NAMES = {
    "espanol": SPANISH,
    "spanish": SPANISH,
    "castellano": SPANISH,
    "english": ENGLISH,
    "ingles": ENGLISH,
}
_LANGUAGE_WORDS = frozenset({"idioma", "language", "lengua"})
_ASKING = _word_set(
    """
    please pls plz in to switch change speak talk write text me messages do you can the
    other i want a en por favor porfa xfa a cambiar cambia cambiame el de otro quiero
    hablame habla hablas hableme escribeme escribame mensajes puedes puede me los con
    ok okay si yes
    """
)
_REQUEST_PUNCTUATION = re.compile(r"[^a-z ]+")


def fold(text: str) -> str:
    """Lower case without accents or tildes: "Español" -> "espanol", "Sí" -> "si"."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _request_form(text: str) -> str:
    """A message as a request is compared: folded, ñ as n, no punctuation, single spaces."""
    return " ".join(_REQUEST_PUNCTUATION.sub(" ", fold(text)).split())


def language_scores(text: str) -> tuple[int, int]:
    """(English evidence, Spanish evidence) in a message."""
    lowered = text.lower()
    spanish = 2 * len(_SPANISH_LETTERS.findall(lowered))
    english = 0
    for word in _WORD.findall(fold(lowered)):
        spanish += word in _SPANISH_WORDS
        english += word in _ENGLISH_WORDS
    return english, spanish


def detect_language(text: str) -> str | None:
    """The language a message is written in, or None when it does not say."""
    requested = requested_language(text, current=None)
    if requested is not None:
        return requested
    english, spanish = language_scores(text)
    if spanish > english:
        return SPANISH
    if english > spanish:
        return ENGLISH
    return None


def requested_language(text: str, *, current: str | None) -> str | None:
    """The language a whole-message request asks for ("español", "cambiar idioma"), or None."""
    words = _request_form(text).split()
    if not words or len(words) > 6:
        return None
    left = [word for word in words if word not in _ASKING]
    if len(left) == 1 and left[0] in _NAMES:
        return _NAMES[left[0]]
    if len(left) == 1 and left[0] in _LANGUAGE_WORDS:
        if current in (ENGLISH, SPANISH):
            return ENGLISH if current == SPANISH else SPANISH
        # Not known yet: the words of the request say which language they read best.
        return SPANISH if left[0] != "language" else ENGLISH
    return None


def metadata_language(metadata: Any) -> str | None:
    """The language the channel layer put in a message's metadata, if it is one we speak."""
    if not isinstance(metadata, dict):
        return None
    value = metadata.get(LANGUAGE_SLOT)
    return value if value in LANGUAGES else None
