"""What the assistant does when it is not sure what the participant meant."""

from __future__ import annotations

from bot.actions.replies import WordingAction, choices

# Payloads are plain words, so a choice goes through the NLU like a typed answer and
# works the same over SMS ("Reply 2") and Telegram buttons. They are the same (English)
# words in every language: the one model reads them for sure, and the reply's language
# comes from the conversation's `language` slot, not from the words.
MAIN_OPTIONS = choices(
    ("i want to do my check in", "Do my check-in", "Hacer mi chequeo"),
    ("what is this study about", "Ask about the study", "Preguntar sobre el estudio"),
    ("i want to talk to a person", "Talk to a person", "Hablar con una persona"),
)


class ActionFallbackHelp(WordingAction):
    """Says it is not sure, offers the main options as buttons, and offers a person."""

    wording_key = "fallback"
    buttons = MAIN_OPTIONS

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_fallback_help"
