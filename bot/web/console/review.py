"""Console pages for researchers: conversation log review and the NLU review queue.

Under /console/review: the list of conversations with filters (GET query parameters), one
conversation's transcript, the queue of messages the model was unsure of with a label
form each, and the export of labelled examples. Every page view and every action writes
an audit event; the POSTs are CSRF-checked. Route functions are plain `def`s, like the
rest of the console (the database is synchronous).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from bot.core.languages import LANGUAGES, STAFF_NAMES
from bot.db.models import Channel
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.research import nlu_review
from bot.research.conversations import (
    FALLBACK_INTENT,
    LOW_CONFIDENCE,
    ConversationFilters,
    ConversationSummary,
    DateRange,
    EntryKind,
    list_conversations,
    transcript,
)
from bot.research.nlu_review import (
    OUT_OF_SCOPE,
    LabelError,
    known_intents,
    label,
    pending_export_count,
    queue_size,
    review_queue,
    reviewed_nlu,
)
from bot.staff import audit
from bot.staff.audit import AuditAction
from bot.staff.permissions import Permission
from bot.web.console.access import ConsoleUser, NotFound, check_csrf, flash, require
from bot.web.console.sessions import CONSOLE_PATH
from bot.web.console.templating import render

logger = logging.getLogger(__name__)

REVIEW_PATH = f"{CONSOLE_PATH}/review"
PAGE_SIZE = 50
TRUE_VALUES = frozenset({"1", "on", "true", "yes"})
FLAG_NAMES = ("low_confidence", "fallback", "escalated", "handoff")

router = APIRouter(prefix=REVIEW_PATH)

csrf_checked = Depends(check_csrf)
log_reviewer = Depends(require(Permission.REVIEW_LOGS))
nlu_labeller = Depends(require(Permission.LABEL_NLU))


def _see_other(path: str) -> RedirectResponse:
    """Redirect after a POST (or to another page) with a GET."""
    return RedirectResponse(path, status_code=303)


def intent_choices() -> list[str]:
    """Intents a researcher may filter the list by (with the fallback)."""
    return [*known_intents(), FALLBACK_INTENT]


# --- the list of conversations ------------------------------------------------------------


@dataclass
class ListQuery:
    """The filter form's query parameters, as sent (every field may be empty)."""

    study_id: str = ""
    start: str = ""
    end: str = ""
    channel: str = ""
    language: str = ""
    intent: str = ""
    low_confidence: str = ""
    fallback: str = ""
    escalated: str = ""
    handoff: str = ""
    page: str = "1"


@dataclass
class ParsedQuery:
    """The filters understood from a ListQuery, and what could not be understood."""

    filters: ConversationFilters
    page: int
    errors: list[str] = field(default_factory=list)


def _day(value: str, name: str, errors: list[str]) -> date | None:
    """A YYYY-MM-DD date, or None (with an error when it was given but is not a date)."""
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors.append(f"The {name} date must look like 2025-03-01.")
        return None


def _channel(value: str, errors: list[str]) -> Channel | None:
    """The channel asked for, or None."""
    if not value:
        return None
    try:
        return Channel(value)
    except ValueError:
        errors.append("Choose a channel from the list.")
        return None


def _language(value: str, errors: list[str]) -> str | None:
    """The participants' language asked for, or None."""
    if not value:
        return None
    if value not in LANGUAGES:
        errors.append("Choose a language from the list.")
        return None
    return value


def _intent(value: str, errors: list[str]) -> str | None:
    """The intent asked for, or None."""
    if not value:
        return None
    if value not in intent_choices():
        errors.append("Choose an intent from the list.")
        return None
    return value


def _flag(value: str) -> bool:
    """A checkbox: ticked or not."""
    return value.strip().lower() in TRUE_VALUES


def _page(value: str) -> int:
    """The page number (1 when it is not a positive number)."""
    return int(value) if value.isdigit() and int(value) > 0 else 1


def parse_query(query: ListQuery) -> ParsedQuery:
    """Understand the filter form; what does not parse is ignored and reported."""
    errors: list[str] = []
    start, end = _day(query.start, "from", errors), _day(query.end, "to", errors)
    if start and end and start > end:
        errors.append("The from date is after the to date.")
        start, end = end, start
    filters = ConversationFilters(
        study_id=query.study_id.strip()[:64] or None,
        dates=DateRange(start=start, end=end),
        channel=_channel(query.channel, errors),
        language=_language(query.language, errors),
        intent=_intent(query.intent, errors),
        low_confidence=_flag(query.low_confidence),
        fallback=_flag(query.fallback),
        escalated=_flag(query.escalated),
        handoff=_flag(query.handoff),
    )
    return ParsedQuery(filters=filters, page=_page(query.page), errors=errors)


def _filters_text(filters: ConversationFilters) -> str:
    """The filters in a few words, for the audit log."""
    parts = [
        f"study ID contains {filters.study_id}" if filters.study_id else "",
        f"from {filters.dates.start}" if filters.dates.start else "",
        f"to {filters.dates.end}" if filters.dates.end else "",
        f"channel {filters.channel.value}" if filters.channel else "",
        f"language {filters.language}" if filters.language else "",
        f"intent {filters.intent}" if filters.intent else "",
        *(name.replace("_", " ") for name in FLAG_NAMES if getattr(filters, name)),
    ]
    return ", ".join(part for part in parts if part) or "none"


def _page_link(query: ListQuery, page: int) -> str:
    """The list URL with the same filters and another page."""
    params = {name: value for name, value in vars(query).items() if value and name != "page"}
    return f"{REVIEW_PATH}/conversations?{urlencode({**params, 'page': page})}"


def _conversations_for(
    user: ConsoleUser, parsed: ParsedQuery
) -> tuple[list[ConversationSummary], bool]:
    """One page of the list (and whether there is another), with the view audited."""
    offset = (parsed.page - 1) * PAGE_SIZE
    with session_scope() as session:
        rows = list_conversations(
            session=session, filters=parsed.filters, limit=PAGE_SIZE + 1, offset=offset
        )
        shown = rows[:PAGE_SIZE]
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.CONVERSATIONS_VIEWED,
            detail=(
                f"{len(shown)} conversations listed (page {parsed.page}); "
                f"filters: {_filters_text(parsed.filters)}"
            ),
        )
    return shown, len(rows) > PAGE_SIZE


list_query = Depends(ListQuery)


@router.get("", include_in_schema=False)
def review_home() -> RedirectResponse:
    """Log review starts at the list of conversations."""
    return _see_other(f"{REVIEW_PATH}/conversations")


@router.get("/conversations")
def conversations_page(
    request: Request, query: ListQuery = list_query, user: ConsoleUser = log_reviewer
) -> Response:
    """Conversations, most recent first, filtered by the form's query parameters."""
    parsed = parse_query(query)
    conversations, more = _conversations_for(user, parsed)
    context = {
        "query": query,
        "filters": parsed.filters,
        "errors": parsed.errors,
        "conversations": conversations,
        "channels": [channel.value for channel in Channel],
        "languages": [(code, STAFF_NAMES[code]) for code in LANGUAGES],
        "intents": intent_choices(),
        "threshold": LOW_CONFIDENCE,
        "page": parsed.page,
        "previous_link": _page_link(query, parsed.page - 1) if parsed.page > 1 else None,
        "next_link": _page_link(query, parsed.page + 1) if more else None,
    }
    return render(request, "review_conversations.html", context, user=user)


# --- one transcript -------------------------------------------------------------------------


@router.get("/conversations/{sender_id:path}")
def transcript_page(
    request: Request,
    sender_id: str,
    start: str = "",
    end: str = "",
    user: ConsoleUser = log_reviewer,
) -> Response:
    """One conversation: messages with intents and confidences, actions, slots, escalations."""
    errors: list[str] = []
    dates = DateRange(start=_day(start, "from", errors), end=_day(end, "to", errors))
    with session_scope() as session:
        found = transcript(session=session, sender_id=sender_id, dates=dates)
        if found is None:
            raise NotFound("There is no such conversation.")
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.TRANSCRIPT_VIEWED,
            participant_id=found.participant_id,
            detail=(
                f"transcript shown: {len(found.entries)} entries, "
                f"{found.count(EntryKind.PARTICIPANT)} participant messages"
                + ("" if found.participant_id else "; conversation without a participant")
            ),
        )
    context = {
        "transcript": found,
        "errors": errors,
        "dates": dates,
        "kinds": EntryKind,
        "threshold": LOW_CONFIDENCE,
    }
    return render(request, "review_transcript.html", context, user=user)


# --- the NLU review queue -------------------------------------------------------------------


@router.get("/nlu")
def nlu_queue_page(request: Request, user: ConsoleUser = nlu_labeller) -> Response:
    """Messages the model was unsure of, oldest first, each with a label form."""
    with session_scope() as session:
        items = review_queue(session=session)
        waiting = queue_size(session=session)
        pending = pending_export_count(session=session)
        shown = ", ".join(str(item.event_id) for item in items) or "none"
        audit.record(
            session=session,
            actor=user.username,
            action=AuditAction.NLU_QUEUE_VIEWED,
            detail=f"{len(items)} of {waiting} messages shown: {shown}",
        )
    context = {
        "items": items,
        "waiting": waiting,
        "pending": pending,
        "intents": [intent for intent in known_intents() if intent != OUT_OF_SCOPE],
        "out_of_scope": OUT_OF_SCOPE,
        "threshold": LOW_CONFIDENCE,
    }
    return render(request, "review_nlu.html", context, user=user)


@router.post("/nlu/{event_id}/label", dependencies=[csrf_checked])
def label_submit(
    request: Request,
    event_id: int,
    intent: str = Form("", max_length=128),
    user: ConsoleUser = nlu_labeller,
) -> RedirectResponse:
    """Label one message with the intent chosen (or out of scope)."""
    try:
        with session_scope() as session:
            stored = label(session=session, event_id=event_id, actor=user.username, intent=intent)
            chosen = stored.intent or "out of scope"
    except LabelError as error:
        flash(request, f"Not labelled: {error}.")
    except IntegrityError:
        flash(request, f"Not labelled: message {event_id} was labelled by someone else just now.")
    else:
        flash(request, f"Message {event_id} labelled {chosen}.")
    return _see_other(f"{REVIEW_PATH}/nlu")


@router.post("/nlu/export", dependencies=[csrf_checked])
def export_submit(request: Request, user: ConsoleUser = nlu_labeller) -> Response:
    """The labelled examples as a Rasa NLU YAML download, for the researcher to review and
    add to data/nlu by hand (nothing is written on the server)."""
    name = nlu_review.export_file_name(utcnow().date())
    with session_scope() as session:
        text, written = reviewed_nlu(
            session=session, destination=f"a console download ({name})", actor=user.username
        )
    logger.info("NLU export from the console by staff user %s: %d examples", user.id, written)
    if not written:
        flash(request, "No new examples to export.")
        return _see_other(f"{REVIEW_PATH}/nlu")
    return Response(
        content=text,
        media_type="application/x-yaml",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
