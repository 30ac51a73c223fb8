"""The deterministic red-flag check of a message's text, for the channel layer.

The same spaCy pipeline Rasa's NLU uses (built by `make nlp`, loaded by path), read
directly: it does not depend on Rasa's NLU having run, on the model, or on the dialogue.
"""

from __future__ import annotations

from bot.core.settings import get_settings
from bot.nlp.analysis import RedFlag, load_pipeline, red_flags_in

# Longer texts are checked in pieces of this many characters (with an overlap), so a
# very long message neither slows the check down nor hides a red flag at its end.
CHUNK = 2000
OVERLAP = 200


def red_flags_in_text(text: str) -> list[RedFlag]:
    """The non-negated red flags of a message, one per category, in text order."""
    nlp = load_pipeline(get_settings().spacy_model)
    lowered = text.lower()  # as Rasa's SpacyNLP reads it (case_sensitive: false)
    seen: dict[str, RedFlag] = {}
    for start in range(0, max(len(lowered), 1), CHUNK - OVERLAP):
        for flag in red_flags_in(nlp(lowered[start : start + CHUNK])):
            seen.setdefault(flag.category, flag)
        if start + CHUNK >= len(lowered):
            break
    return list(seen.values())
