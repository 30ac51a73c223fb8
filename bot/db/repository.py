"""Reads and writes of the project's tables. Keyword-only, bound parameters only."""

from __future__ import annotations

import secrets
from datetime import datetime, time
from typing import Any

from sqlalchemy import and_, null, or_, select
from sqlalchemy.orm import Session

from bot.db.models import (
    Channel,
    Checkin,
    CheckinStatus,
    Direction,
    DoseReport,
    MessageLog,
    Participant,
    ParticipantStatus,
    SymptomReport,
)
from bot.db.types import utcnow


def get_participant_by_sender(*, session: Session, sender_id: str) -> Participant | None:
    """The participant whose conversation this is, if enrolled."""
    return session.execute(
        select(Participant).where(Participant.sender_id == sender_id)
    ).scalar_one_or_none()


def get_participant_by_study_id(*, session: Session, study_id: str) -> Participant | None:
    """The participant with this study ID, if enrolled."""
    return session.execute(
        select(Participant).where(Participant.study_id == study_id)
    ).scalar_one_or_none()


def get_participant_by_address_hash(*, session: Session, address_hash: str) -> Participant | None:
    """The participant a phone number or chat ID belongs to (see bot.core.crypto.address_digest)."""
    return session.execute(
        select(Participant).where(Participant.address_hash == address_hash)
    ).scalar_one_or_none()


def get_participant_by_enrollment_code(*, session: Session, code: str) -> Participant | None:
    """The participant an enrollment code was given to."""
    return session.execute(
        select(Participant).where(Participant.enrollment_code == code)
    ).scalar_one_or_none()


def enroll_participant(
    *,
    session: Session,
    study_id: str,
    channel: Channel,
    address_encrypted: str | None = None,
    address_hash: str | None = None,
    enrollment_code: str | None = None,
    sender_id: str | None = None,
    timezone: str = "UTC",
    preferred_contact_time: time | None = None,
    language: str = "en",
    language_source: str | None = "enrollment",
    is_test: bool = False,
) -> Participant:
    """Create a participant; the conversation ID defaults to the study ID.

    `language_source` None: the language is not known yet (read from their first message).
    """
    participant = Participant(
        study_id=study_id,
        sender_id=sender_id or study_id,
        channel=channel,
        address_encrypted=address_encrypted,
        address_hash=address_hash,
        enrollment_code=enrollment_code,
        timezone=timezone,
        preferred_contact_time=preferred_contact_time,
        language=language,
        language_source=language_source,
        status=ParticipantStatus.ACTIVE,
        is_test=is_test,
    )
    session.add(participant)
    session.flush()
    return participant


def participant_language(*, session: Session, participant_id: int) -> str | None:
    """The participant's language of record ("en", "es"), or None when there is no such one."""
    participant = session.get(Participant, participant_id)
    return participant.language if participant is not None else None


def ensure_web_participant(*, session: Session, sender_id: str) -> Participant:
    """The conversation's participant; a web-chat visitor is enrolled on first contact.

    Web chats get demo study IDs (WEB-…) and are test traffic (`is_test`): their
    escalations page nobody by SMS or Telegram, and research figures leave them out.
    Any other sender reaches the assistant only through a channel that checked it is
    enrolled.
    """
    participant = get_participant_by_sender(session=session, sender_id=sender_id)
    if participant is not None:
        return participant
    return enroll_participant(
        session=session,
        study_id=f"WEB-{secrets.token_hex(4).upper()}",
        channel=Channel.WEB,
        sender_id=sender_id,
        language_source=None,
        is_test=True,
    )


def log_message(
    *,
    session: Session,
    sender_id: str,
    channel: Channel,
    direction: Direction,
    text: str,
    participant_id: int | None = None,
    external_id: str | None = None,
    delivery_status: str | None = None,
    awaiting: bool = False,
    detail: dict[str, Any] | None = None,
    language: str | None = None,
) -> MessageLog:
    """Record one message in or out.

    An inbound message is handled when written, unless `awaiting`: a participant's message
    its channel acknowledged and handles afterwards (`bot.messaging.inbound`); `detail` is
    what the channel needs to handle it from the log alone. `language` is the language of
    the text when the writer knows it (a Spanish keyword, the web page's choice); without
    it, the participant's language now (None for a message of no participant).
    """
    waiting = {"handled_at": null()} if awaiting else {}  # NULL, not the column's default
    if language is None and participant_id is not None:
        language = participant_language(session=session, participant_id=participant_id)
    entry = MessageLog(
        sender_id=sender_id,
        participant_id=participant_id,
        channel=channel,
        direction=direction,
        text=text,
        external_id=external_id,
        delivery_status=delivery_status,
        detail=detail,
        language=language,
        **waiting,
    )
    session.add(entry)
    session.flush()
    return entry


def messages_around(
    *,
    session: Session,
    sender_id: str,
    at: datetime,
    message_id: int | None = None,
    before: int,
    after: int,
) -> list[MessageLog]:
    """The conversation around one point, oldest first: the message `message_id` (logged
    `at`) with up to `before` messages before it and `after` after it; without a message,
    up to `before` messages logged at or before `at` and `after` after it."""
    up_to = (
        MessageLog.created_at <= at
        if message_id is None
        else or_(
            MessageLog.created_at < at,
            and_(MessageLog.created_at == at, MessageLog.id <= message_id),
        )
    )
    earlier = session.execute(
        select(MessageLog)
        .where(MessageLog.sender_id == sender_id, up_to)
        .order_by(MessageLog.created_at.desc(), MessageLog.id.desc())
        .limit(before + (message_id is not None))
    ).scalars()
    later = session.execute(
        select(MessageLog)
        .where(MessageLog.sender_id == sender_id, ~up_to)
        .order_by(MessageLog.created_at, MessageLog.id)
        .limit(after)
    ).scalars()
    return list(reversed(list(earlier))) + list(later)


def record_symptom(
    *,
    session: Session,
    participant_id: int,
    symptom: str,
    grade: int | None,
    raw_answer: str,
    severity: int | None = None,
    frequency: int | None = None,
    interference: int | None = None,
    checkin_id: int | None = None,
) -> SymptomReport:
    """Store one graded symptom."""
    report = SymptomReport(
        participant_id=participant_id,
        checkin_id=checkin_id,
        symptom=symptom,
        severity=severity,
        frequency=frequency,
        interference=interference,
        grade=grade,
        raw_answer=raw_answer,
    )
    session.add(report)
    session.flush()
    return report


def checkin_symptom_reports(
    *, session: Session, participant_id: int, checkin_id: int, since: datetime
) -> dict[str, SymptomReport]:
    """The participant's reports stored in one check-in since `since`, by symptom, oldest
    first (a check-in paused and never finished must not hold a report for days)."""
    reports = session.execute(
        select(SymptomReport)
        .where(
            SymptomReport.participant_id == participant_id,
            SymptomReport.checkin_id == checkin_id,
            SymptomReport.reported_at >= since,
        )
        .order_by(SymptomReport.reported_at, SymptomReport.id)
    ).scalars()
    return {report.symptom: report for report in reports}


def regrade_symptom(
    *,
    report: SymptomReport,
    grade: int,
    raw_answer: str,
    severity: int | None = None,
    frequency: int | None = None,
    interference: int | None = None,
) -> SymptomReport:
    """Raise a report's grade to a higher one told later in the same check-in.

    The answers become the new ones; the words of both tellings are kept.
    """
    report.grade = grade
    report.severity = severity
    report.frequency = frequency
    report.interference = interference
    report.raw_answer = " || ".join(part for part in (report.raw_answer, raw_answer) if part)
    return report


def previous_symptom_grade(*, session: Session, participant_id: int, symptom: str) -> int | None:
    """The grade of the participant's latest stored report of this symptom, if any."""
    return session.execute(
        select(SymptomReport.grade)
        .where(SymptomReport.participant_id == participant_id, SymptomReport.symptom == symptom)
        .order_by(SymptomReport.reported_at.desc(), SymptomReport.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def start_checkin(*, session: Session, participant_id: int) -> Checkin:
    """Open a new check-in."""
    checkin = Checkin(participant_id=participant_id, status=CheckinStatus.IN_PROGRESS)
    session.add(checkin)
    session.flush()
    return checkin


def get_checkin(*, session: Session, checkin_id: int) -> Checkin | None:
    """A check-in by ID."""
    return session.get(Checkin, checkin_id)


def latest_checkin(*, session: Session, participant_id: int) -> Checkin | None:
    """The participant's most recently started check-in, finished or not."""
    return session.execute(
        select(Checkin)
        .where(Checkin.participant_id == participant_id)
        .order_by(Checkin.started_at.desc(), Checkin.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def record_dose(
    *,
    session: Session,
    participant_id: int,
    taken: str,
    source: str,
    checkin_id: int | None = None,
) -> DoseReport:
    """Store whether a dose was taken as planned (yes / no / some)."""
    report = DoseReport(
        participant_id=participant_id, taken=taken, source=source, checkin_id=checkin_id
    )
    session.add(report)
    session.flush()
    return report


def finish_checkin(
    *,
    session: Session,
    checkin_id: int,
    status: CheckinStatus,
    overall_feeling: int | None,
    new_problem: bool | None,
    took_medicine: str | None,
    question: str | None,
    free_text_answers: dict[str, str] | None,
) -> Checkin | None:
    """Save a check-in's answers and how it ended."""
    checkin = session.get(Checkin, checkin_id)
    if checkin is None:
        return None
    checkin.status = status
    checkin.overall_feeling = overall_feeling
    checkin.new_problem = new_problem
    checkin.took_medicine = took_medicine
    checkin.question = question
    checkin.free_text_answers = free_text_answers or None
    if status is CheckinStatus.COMPLETED:
        checkin.completed_at = utcnow()
    session.flush()
    return checkin
