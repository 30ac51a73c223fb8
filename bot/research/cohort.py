"""Who research counts, and the cohorts figures are split into.

A participant marked `is_test` (every web-chat visitor, bot.db.repository) is test
traffic: figures, plots, the report and the de-identified export leave them out unless
the caller asks for them (`include_test`, default off).

Language cohorts: participants by their language now (`participants.language`, "en" or
"es"), every supported language listed even when nobody speaks it yet; a code the project
does not know counts as the default language (as the assistant treats it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from bot.core.languages import LANGUAGES, language_or_default
from bot.db.models import Participant


def participants_counted(include_test: bool) -> list[Any]:
    """WHERE clauses on the participants table: no test traffic unless asked for."""
    return [] if include_test else [Participant.is_test.is_(False)]


def owned_by_counted(participant_id: Any, include_test: bool) -> list[Any]:
    """WHERE clauses on a participant ID column: rows of test traffic left out unless asked."""
    if include_test:
        return []
    return [participant_id.not_in(select(Participant.id).where(Participant.is_test.is_(True)))]


def language_cohorts(participants: Iterable[Participant]) -> dict[str, list[Participant]]:
    """The participants by language, in the order of LANGUAGES (empty cohorts included)."""
    cohorts: dict[str, list[Participant]] = {language: [] for language in LANGUAGES}
    for participant in participants:
        cohorts[language_or_default(participant.language)].append(participant)
    return cohorts
