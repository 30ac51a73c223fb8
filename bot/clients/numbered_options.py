"""Buttons as numbered options in plain text, and a bare number read back as a choice.

Over SMS there are no buttons: "Yes / No" becomes "Reply 1 for Yes, 2 for No." and a reply
of "2" means the second button. Buttons whose titles already start with their own number
("0 None" ... "4 Very severe") keep that number ("Reply 0 for None, ..."), so the number a
participant reads is the number they send back. Pure text: the SMS client writes the
options, `bot.messaging.numbered_choices` reads a reply against the last message sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# "2", " 2 ", "#2", "2." or "2)": a whole message that is just one choice number.
NUMBER_REPLY = re.compile(r"\s*#?\s*(\d{1,2})\s*[.!)]?\s*")
_OWN_NUMBER = re.compile(r"\s*(\d{1,2})[\s.):-]+(\S.*)")


@dataclass(frozen=True)
class Choice:
    """One button as a numbered option: the number to send, its label and its payload."""

    number: str
    label: str
    payload: str


def numbered_choices(buttons: Sequence[Mapping[str, str]]) -> list[Choice]:
    """Number the buttons 1, 2, ... or by the numbers their titles already start with."""
    titles = [str(button.get("title") or button.get("payload") or "").strip() for button in buttons]
    payloads = [
        str(button.get("payload") or title) for button, title in zip(buttons, titles, strict=True)
    ]
    own = [_OWN_NUMBER.fullmatch(title) for title in titles]
    if titles and all(own) and len({match.group(1) for match in own if match}) == len(own):
        return [
            Choice(str(int(match.group(1))), match.group(2).strip(), payload)
            for match, payload in zip(own, payloads, strict=True)
            if match
        ]
    return [
        Choice(str(index), title, payload)
        for index, (title, payload) in enumerate(zip(titles, payloads, strict=True), start=1)
    ]


# How the options line is written in each language ("es": "Responda 1 para Sí, 2 para No.").
_OPTIONS = {
    "en": ("Reply {options}.", "{number} for {label}"),
    "es": ("Responda {options}.", "{number} para {label}"),
}


def options_line(buttons: Sequence[Mapping[str, str]], language: str = "en") -> str:
    """The choices in one short line: "Reply 1 for Yes, 2 for No." ('' without buttons)."""
    choices = numbered_choices(buttons)
    if not choices:
        return ""
    line, option = _OPTIONS.get(language, _OPTIONS["en"])
    options = ", ".join(
        option.format(number=choice.number, label=choice.label.rstrip(".")) for choice in choices
    )
    return line.format(options=options)


def with_options(text: str, buttons: Sequence[Mapping[str, str]], language: str = "en") -> str:
    """A text with its buttons written out as numbered options on a new line."""
    line = options_line(buttons, language)
    if not line:
        return text
    return f"{text.rstrip()}\n{line}" if text.strip() else line


def choose(text: str, buttons: Sequence[Mapping[str, str]]) -> str | None:
    """The payload a bare-number reply picks from these buttons, or None."""
    match = NUMBER_REPLY.fullmatch(text)
    if match is None:
        return None
    number = str(int(match.group(1)))
    for choice in numbered_choices(buttons):
        if choice.number == number:
            return choice.payload
    return None
