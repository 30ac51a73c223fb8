"""Answer buttons in each language: the same payloads, titles in English and Spanish.

The actions ask with them (`bot.actions.replies`); the outreach worker sends a check-in's
opening with the same ones (`bot.outreach.deferred`).
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.languages import ENGLISH, SPANISH

Button = dict[str, str]
# The same buttons in each language, by language code.
Choices = Mapping[str, tuple[Button, ...]]


def button(title: str, payload: str) -> Button:
    """A quick-reply button (shown as a numbered option over SMS)."""
    return {"title": title, "payload": payload}


def choices(*options: tuple[str, str, str]) -> Choices:
    """Buttons in each language from (payload, English title, Spanish title) for each one.

    The payload is the same in every language, so a tap reads the same whatever the language.
    """
    return {
        ENGLISH: tuple(button(english, payload) for payload, english, _ in options),
        SPANISH: tuple(button(spanish, payload) for payload, _, spanish in options),
    }


def buttons_in(options: Choices, language: str) -> tuple[Button, ...]:
    """The buttons in a language (English when that language has none)."""
    if language in options:
        return options[language]
    return options.get(ENGLISH, ())


NO_BUTTONS = choices()
YES_NO = choices(("yes", "Yes", "Sí"), ("no", "No", "No"))
ONLY_NO = choices(("no", "No", "No"))
# How they feel overall (the check-in's first question).
FEELING_CHOICES = choices(
    ("1", "1 Very bad", "1 Muy mal"),
    ("2", "2 Not good", "2 Mal"),
    ("3", "3 OK", "3 Regular"),
    ("4", "4 Good", "4 Bien"),
    ("5", "5 Great", "5 Muy bien"),
)
