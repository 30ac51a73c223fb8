"""Who research counts, and the cohorts figures are split into.

A participant marked `is_test` (every web-chat visitor, bot.db.repository) is test
traffic: figures, plots, the report and the de-identified export leave them out unless
the caller asks for them (`include_test`, default off).

The study's first data day (`first_data_day`) is where figures and exports start by
default: they cover the whole study unless a period is chosen.

Language cohorts: participants by their language now (`participants.language`, "en" or
"es"), every supported language listed even when nobody speaks it yet; a code the project
does not know counts as the default language (as the assistant treats it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.languages import LANGUAGES, language_or_default
from bot.db.models import Checkin, Participant


def participants_counted(include_test: bool) -> list[Any]:
    """WHERE clauses on the participants table: no test traffic unless asked for."""
    return [] if include_test else [Participant.is_test.is_(False)]


def owned_by_counted(participant_id: Any, include_test: bool) -> list[Any]:
    """WHERE clauses on a participant ID column: rows of test traffic left out unless asked."""
    if include_test:
        return []
    return [participant_id.not_in(select(Participant.id).where(Participant.is_test.is_(True)))]


def first_data_day(*, session: Session, include_test: bool = False) -> date | None:
    """The (UTC) day of the study's first data: its first enrollment or check-in, whichever
    came first, among the participants counted; None when there is none."""
    counted = participants_counted(include_test)
    enrolled = select(func.min(Participant.enrolled_at)).where(*counted)
    checked_in = (
        select(func.min(Checkin.started_at))
        .join(Participant, Participant.id == Checkin.participant_id)
        .where(*counted)
    )
    firsts = [session.execute(query).scalar_one_or_none() for query in (enrolled, checked_in)]
    known = [moment for moment in firsts if moment is not None]
    return min(known).date() if known else None


def language_cohorts(participants: Iterable[Participant]) -> dict[str, list[Participant]]:
    """The participants by language, in the order of LANGUAGES (empty cohorts included)."""
    cohorts: dict[str, list[Participant]] = {language: [] for language in LANGUAGES}
    for participant in participants:
        cohorts[language_or_default(participant.language)].append(participant)
    return cohorts
