"""Who research counts: test traffic is left out unless asked for.

A participant marked `is_test` (every web-chat visitor, bot.db.repository) is test
traffic: figures, plots, the report and the de-identified export leave them out unless
the caller asks for them (`include_test`, default off).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.db.models import Participant


def participants_counted(include_test: bool) -> list[Any]:
    """WHERE clauses on the participants table: no test traffic unless asked for."""
    return [] if include_test else [Participant.is_test.is_(False)]


def owned_by_counted(participant_id: Any, include_test: bool) -> list[Any]:
    """WHERE clauses on a participant ID column: rows of test traffic left out unless asked."""
    if include_test:
        return []
    return [participant_id.not_in(select(Participant.id).where(Participant.is_test.is_(True)))]
