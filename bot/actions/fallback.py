"""What the assistant does when it is not sure what the participant meant."""

from __future__ import annotations

from bot.actions.replies import WordingAction, button

# Payloads are plain words, so a choice goes through the NLU like a typed answer and
# works the same over SMS ("Reply 2") and Telegram buttons.
MAIN_OPTIONS = (
    button("Do my check-in", "i want to do my check in"),
    button("Ask about the study", "what is this study about"),
    button("Talk to a person", "i want to talk to a person"),
)


class ActionFallbackHelp(WordingAction):
    """Says it is not sure, offers the main options as buttons, and offers a person."""

    wording_key = "fallback"
    buttons = MAIN_OPTIONS

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_fallback_help"
