"""The chat page's own words (heading, box, button, errors) in each language, for its switch.

The page shows them in the language the visitor picked on its English / Español switch,
else in the conversation's language, else in the browser's; `static/chat.js` swaps them.
"""

from __future__ import annotations

from typing import Final

from bot.core.languages import ENGLISH, LANGUAGES, OWN_NAMES, SPANISH
from bot.study.config import StudyConfig

PAGE_TEXTS: Final = {
    ENGLISH: {
        "title": "{name}: study helper",
        "heading": "{name} helper",
        "emergency": "In an emergency, call",
        "conversation": "Conversation",
        "label": "Your message",
        "placeholder": "Type a message",
        "send": "Send",
        "switch": "Language",
        "error": "Something went wrong. Please try again.",
        "busy": "Too many messages at once. Please wait a minute and try again.",
        "unavailable": "The helper is not answering right now. Please try again in a minute.",
        "offline": "We could not reach the helper. Please check your connection and try again.",
    },
    SPANISH: {
        "title": "{name}: asistente del estudio",
        "heading": "Asistente de {name}",
        "emergency": "En una emergencia, llame al",
        "conversation": "Conversación",
        "label": "Su mensaje",
        "placeholder": "Escriba un mensaje",
        "send": "Enviar",
        "switch": "Idioma",
        "error": "Algo salió mal. Por favor, inténtelo de nuevo.",
        "busy": "Son muchos mensajes seguidos. Espere un minuto y vuelva a probar.",
        "unavailable": "El asistente no contesta ahora. Inténtelo de nuevo en un minuto.",
        "offline": "No pudimos llegar al asistente. Revise su conexión y vuelva a intentarlo.",
    },
}


def page_texts(study: StudyConfig) -> dict[str, dict[str, str]]:
    """The page's words in every language, with the study's name filled in."""
    name = study.study.name
    return {
        language: {key: text.format(name=name) for key, text in PAGE_TEXTS[language].items()}
        for language in LANGUAGES
    }


def switch_choices() -> list[tuple[str, str]]:
    """The switch's buttons: each language's code and its own name (English, Español)."""
    return [(language, OWN_NAMES[language]) for language in LANGUAGES]
