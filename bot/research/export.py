"""De-identified export: CSV files keyed by study ID, with a data dictionary, in a folder or zip.

Files: participants.csv, checkins.csv, symptom_reports.csv, doses.csv, escalations.csv,
messages.csv, data_dictionary.csv (every column of every file) and README.txt (the period,
whether test traffic and message text are in it). Everything is exported by default; a
period is an explicit choice, and shows in the name (trialbot-export_2026-11-01_to_2026-12-07,
or trialbot-export_all_to_2026-12-07 from the first data) and in README.txt. No phone number, no
Telegram chat ID, no conversation ID, no enrollment code, no participant's own words
(check-in free text, symptom answers, feedback comments), no staff names or notes, no
acknowledgement codes. Message text is exported only on request, by a user whose role may
(admins), and masked (bot.research.masking). Before anything is written, every file is
searched for every participant's phone number (E.164 and national forms, with or
without separators) and chat ID; one found stops the export.

Rows are those of the period: check-ins by `started_at`, symptom and dose reports by
`reported_at`, escalations and messages by `created_at`; participants enrolled before the
period's end. Times are UTC, ISO 8601. Every export is recorded in the audit log. Test
traffic (participants marked `is_test`: web-chat visitors) and everything about them is
left out unless asked for (`include_test`, `--include-test`).

    python -m bot.research.export --out DIR|FILE.zip [--since YYYY-MM-DD] [--until YYYY-MM-DD]
                                  [--include-text --as-admin USERNAME] [--include-test]
"""

from __future__ import annotations

import argparse
import csv
import enum
import io
import logging
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

import phonenumbers
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.db.models import (
    Channel,
    Checkin,
    DoseReport,
    Escalation,
    MessageLog,
    Participant,
    SymptomReport,
)
from bot.db.types import utcnow
from bot.participants.enrollment import address_of
from bot.research import redcap
from bot.research.cohort import participants_counted
from bot.staff import audit
from bot.staff.audit import SYSTEM_ACTOR, AuditAction
from bot.staff.auth import get_user_by_username
from bot.staff.permissions import NotAllowed, Permission, allows

logger = logging.getLogger(__name__)

DICTIONARY_FILE = "data_dictionary.csv"
README_FILE = "README.txt"
# A spreadsheet reads a cell starting with one of these as a formula: free text gets a '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Shorter runs of digits are too common to search for as a chat ID.
MIN_ADDRESS_DIGITS = 6


class ExportError(RuntimeError):
    """The export could not be made (nothing was written)."""


@dataclass(frozen=True)
class Column:
    """One column of an exported file, as the data dictionary describes it."""

    name: str
    type: str
    description: str


@dataclass(frozen=True)
class Bounds:
    """The export's time span [start, end) in UTC (no start: from the beginning), and whether
    test traffic (web-chat visitors) is in it (left out by default)."""

    start: datetime | None
    end: datetime
    include_test: bool = False

    @classmethod
    def from_dates(
        cls, since: date | None, until: date | None, *, now: datetime, include_test: bool = False
    ) -> Bounds:
        """From the first to the last day, both included (UTC days); to `now` without one."""
        start = datetime.combine(since, time(0), tzinfo=timezone.utc) if since else None
        end = (
            datetime.combine(until + timedelta(days=1), time(0), tzinfo=timezone.utc)
            if until
            else now
        )
        if start is not None and end <= start:
            raise ExportError("the period must end after it starts")
        return cls(start, end, include_test)

    @property
    def label(self) -> str:
        """The span as people read it."""
        first = f"{self.start:%Y-%m-%d}" if self.start else "the first data"
        return f"{first} to {self.last_day:%Y-%m-%d} (UTC)"

    @property
    def last_day(self) -> date:
        """The last (UTC) day the span touches."""
        return (self.end - timedelta(microseconds=1)).date()

    def clauses(self, column: Any) -> list[Any]:
        """WHERE clauses: the column's time is inside the span."""
        clauses = [column < self.end]
        if self.start is not None:
            clauses.append(column >= self.start)
        return clauses

    def counted(self) -> list[Any]:
        """WHERE clauses on the participants table: test traffic only if asked for."""
        return participants_counted(self.include_test)


# --- the files and their columns --------------------------------------------------------

STUDY_ID = Column("study_id", "text", "The participant's study ID (the key across files).")
_UTC = "UTC, ISO 8601"

PARTICIPANT_COLUMNS = (
    STUDY_ID,
    Column("channel", "text", "How they talk to the assistant: sms, telegram or web."),
    Column("status", "text", "Where they stand now: active, withdrawn or completed."),
    Column("enrolled_date", "date", "Day of enrollment (UTC), YYYY-MM-DD."),
    Column("timezone", "text", "Their IANA time zone, e.g. America/Chicago."),
    Column(
        "language",
        "text",
        "The language they read now: en (English) or es (Spanish). Set at enrollment; the "
        'participant may change it (e.g. by texting "español").',
    ),
    Column("opted_out_date", "date", "Day they opted out of messages (SMS STOP); empty if not."),
    Column("at_risk_since", "timestamp", f"Flagged at risk of dropping out ({_UTC}); or empty."),
)
CHECKIN_COLUMNS = (
    STUDY_ID,
    Column("checkin_id", "integer", "The check-in's ID (symptom_reports and doses refer to it)."),
    Column("status", "text", "in_progress, paused, completed or stopped."),
    Column("started_at", "timestamp", f"When it started ({_UTC})."),
    Column("completed_at", "timestamp", f"When it was completed ({_UTC}); empty if not."),
    Column(
        "overall_feeling",
        "integer",
        "How they feel all in all: 1 very bad, 2 not good, 3 ok, 4 good, 5 great.",
    ),
    Column("new_problem", "boolean", "They reported a new health problem: true or false."),
    Column("took_medicine", "text", "Took the study medicine as planned: yes, no or some."),
    Column("asked_question", "boolean", "They left a question for staff (text not exported)."),
)
SYMPTOM_COLUMNS = (
    STUDY_ID,
    Column("report_id", "integer", "The symptom report's ID."),
    Column("checkin_id", "integer", "The check-in it was part of; empty if reported on its own."),
    Column("symptom", "text", "PRO-CTCAE-style symptom name, e.g. shortness_of_breath."),
    Column("severity", "integer", "0 none, 1 mild, 2 moderate, 3 severe, 4 very severe."),
    Column("frequency", "integer", "0 never, 1 rarely, 2 sometimes, 3 often, 4 almost always."),
    Column("interference", "integer", "Interference with daily life: 0 not at all to 4 very much."),
    Column("grade", "integer", "Grade for alerts: severity, else frequency, else interference."),
    Column("reported_at", "timestamp", f"When it was reported ({_UTC})."),
)
DOSE_COLUMNS = (
    STUDY_ID,
    Column("dose_report_id", "integer", "The dose report's ID."),
    Column("checkin_id", "integer", "The check-in it was part of; empty if from a message."),
    Column("taken", "text", "Dose taken as planned: yes, no or some."),
    Column("source", "text", "Where it came from: checkin or message."),
    Column("reported_at", "timestamp", f"When it was reported ({_UTC})."),
)
ESCALATION_COLUMNS = (
    STUDY_ID,
    Column("escalation_id", "integer", "The escalation's ID."),
    Column("level", "text", "emergency, urgent or routine."),
    Column("type", "text", "symptom, emergency, withdrawal, question, handoff or other."),
    Column("reason", "text", "Why, in staff language (never the participant's words)."),
    Column("status", "text", "open, acknowledged or resolved, now."),
    Column("message_id", "integer", "The message (messages.csv) that raised it; empty if none."),
    Column("created_at", "timestamp", f"When it was raised ({_UTC})."),
    Column("acknowledged_at", "timestamp", f"When staff acknowledged it ({_UTC}); empty if not."),
    Column("minutes_to_acknowledge", "number", "acknowledged_at - created_at, minutes."),
    Column("resolved_at", "timestamp", f"When staff resolved it ({_UTC}); empty if not."),
)
MESSAGE_COLUMNS = (
    STUDY_ID,
    Column("message_id", "integer", "The message's ID."),
    Column("direction", "text", "in (from the participant) or out (to them)."),
    Column("channel", "text", "sms, telegram or web."),
    Column("created_at", "timestamp", f"When it was received or sent ({_UTC})."),
    Column("delivery_status", "text", "Delivery status (e.g. received, sent, delivered, failed)."),
    Column("length", "integer", "Length of the text in characters."),
    Column(
        "language",
        "text",
        "The language of the message: en (English) or es (Spanish); the participant's "
        "language when it was logged unless the text was known to be in another (a Spanish "
        "keyword such as PARAR, the web chat's language switch). Empty if not known.",
    ),
)
TEXT_COLUMN = Column(
    "text",
    "text",
    "The message text with personal details masked (admins only, on request). A text "
    "starting with = + - or @ is prefixed with ' so spreadsheets do not run it.",
)
DICTIONARY_COLUMNS = (
    Column("file", "text", "The exported file."),
    Column("column", "text", "The column's name."),
    Column("type", "text", "text, integer, number, boolean (true/false), date or timestamp."),
    Column("description", "text", "What the column holds."),
)
FILE_DESCRIPTIONS = {
    "participants.csv": (
        "One row per participant enrolled before the period's end (web-chat test "
        "traffic only when asked for)."
    ),
    "checkins.csv": "Check-in conversations started in the period.",
    "symptom_reports.csv": "Graded symptom reports made in the period.",
    "doses.csv": "Dose reports made in the period.",
    "escalations.csv": "Escalations raised in the period.",
    "messages.csv": "Message metadata (and masked text, admins only) of the period.",
    DICTIONARY_FILE: "This file: every column of every file.",
}


# --- rows -------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """A value as CSV text: UTC ISO 8601 times, true/false, enum values, empty for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _free_text(value: str | None) -> str | None:
    """Free text made safe to open in a spreadsheet."""
    if value and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _day(value: datetime | None) -> date | None:
    """The UTC day of a time."""
    return value.astimezone(timezone.utc).date() if value else None


def _participant_rows(session: Session, bounds: Bounds) -> list[list[Any]]:
    """participants.csv."""
    rows = session.execute(
        select(Participant)
        .where(Participant.enrolled_at < bounds.end, *bounds.counted())
        .order_by(Participant.study_id)
    ).scalars()
    return [
        [
            participant.study_id,
            participant.channel,
            participant.status,
            _day(participant.enrolled_at),
            participant.timezone,
            participant.language,
            _day(participant.opted_out_at),
            participant.at_risk_since,
        ]
        for participant in rows
    ]


def _checkin_rows(session: Session, bounds: Bounds) -> list[list[Any]]:
    """checkins.csv (no free text, no question text)."""
    rows = session.execute(
        select(Participant.study_id, Checkin)
        .join(Participant, Participant.id == Checkin.participant_id)
        .where(*bounds.clauses(Checkin.started_at), *bounds.counted())
        .order_by(Checkin.started_at, Checkin.id)
    ).all()
    return [
        [
            study_id,
            checkin.id,
            checkin.status,
            checkin.started_at,
            checkin.completed_at,
            checkin.overall_feeling,
            checkin.new_problem,
            checkin.took_medicine,
            bool(checkin.question),
        ]
        for study_id, checkin in rows
    ]


def _symptom_rows(session: Session, bounds: Bounds) -> list[list[Any]]:
    """symptom_reports.csv (no raw answer)."""
    rows = session.execute(
        select(Participant.study_id, SymptomReport)
        .join(Participant, Participant.id == SymptomReport.participant_id)
        .where(*bounds.clauses(SymptomReport.reported_at), *bounds.counted())
        .order_by(SymptomReport.reported_at, SymptomReport.id)
    ).all()
    return [
        [
            study_id,
            report.id,
            report.checkin_id,
            report.symptom,
            report.severity,
            report.frequency,
            report.interference,
            report.grade,
            report.reported_at,
        ]
        for study_id, report in rows
    ]


def _dose_rows(session: Session, bounds: Bounds) -> list[list[Any]]:
    """doses.csv."""
    rows = session.execute(
        select(Participant.study_id, DoseReport)
        .join(Participant, Participant.id == DoseReport.participant_id)
        .where(*bounds.clauses(DoseReport.reported_at), *bounds.counted())
        .order_by(DoseReport.reported_at, DoseReport.id)
    ).all()
    return [
        [study_id, dose.id, dose.checkin_id, dose.taken, dose.source, dose.reported_at]
        for study_id, dose in rows
    ]


def _minutes_between(start: datetime, end: datetime | None) -> str | None:
    """Minutes from start to end, one decimal."""
    return f"{(end - start).total_seconds() / 60:.1f}" if end else None


def _escalation_rows(session: Session, bounds: Bounds) -> list[list[Any]]:
    """escalations.csv (no ack code, no staff names or notes)."""
    rows = session.execute(
        select(Participant.study_id, Escalation)
        .join(Participant, Participant.id == Escalation.participant_id)
        .where(*bounds.clauses(Escalation.created_at), *bounds.counted())
        .order_by(Escalation.created_at, Escalation.id)
    ).all()
    return [
        [
            study_id,
            escalation.id,
            escalation.level,
            escalation.type,
            _free_text(escalation.reason),
            escalation.status,
            escalation.message_log_id,
            escalation.created_at,
            escalation.acknowledged_at,
            _minutes_between(escalation.created_at, escalation.acknowledged_at),
            escalation.resolved_at,
        ]
        for study_id, escalation in rows
    ]


def _message_rows(session: Session, bounds: Bounds, *, include_text: bool) -> list[list[Any]]:
    """messages.csv: metadata; the text masked, and only when asked for."""
    mask: Callable[[str], str] | None = None
    if include_text:
        from bot.research.masking import mask_text

        mask = mask_text
    rows = session.execute(
        select(Participant.study_id, MessageLog)
        .join(
            Participant,
            or_(
                MessageLog.participant_id == Participant.id,
                MessageLog.sender_id == Participant.sender_id,
            ),
        )
        .where(*bounds.clauses(MessageLog.created_at), *bounds.counted())
        .order_by(MessageLog.created_at, MessageLog.id)
    ).all()
    return [
        [
            study_id,
            message.id,
            message.direction,
            message.channel,
            message.created_at,
            message.delivery_status,
            len(message.text or ""),
            message.language,
            *([_free_text(mask(message.text or ""))] if mask else []),
        ]
        for study_id, message in rows
    ]


# --- building, checking and writing the files -------------------------------------------


def _csv(columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> bytes:
    """A CSV file (UTF-8, header row, CRLF line ends as RFC 4180 has them)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([column.name for column in columns])
    writer.writerows([_cell(value) for value in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def file_columns(*, include_text: bool) -> dict[str, tuple[Column, ...]]:
    """Every exported file and its columns, the data dictionary last."""
    messages = (*MESSAGE_COLUMNS, TEXT_COLUMN) if include_text else MESSAGE_COLUMNS
    return {
        "participants.csv": PARTICIPANT_COLUMNS,
        "checkins.csv": CHECKIN_COLUMNS,
        "symptom_reports.csv": SYMPTOM_COLUMNS,
        "doses.csv": DOSE_COLUMNS,
        "escalations.csv": ESCALATION_COLUMNS,
        "messages.csv": messages,
        DICTIONARY_FILE: DICTIONARY_COLUMNS,
    }


def _dictionary_rows(files: dict[str, tuple[Column, ...]]) -> list[list[str]]:
    """One row per column of every file (the dictionary's own columns too)."""
    return [
        [name, column.name, column.type, column.description]
        for name, columns in files.items()
        for column in columns
    ]


def _build(
    session: Session, bounds: Bounds, *, include_text: bool
) -> tuple[dict[str, bytes], dict[str, int]]:
    """Every file's bytes, and how many data rows each has."""
    files = file_columns(include_text=include_text)
    rows: dict[str, list[list[Any]]] = {
        "participants.csv": _participant_rows(session, bounds),
        "checkins.csv": _checkin_rows(session, bounds),
        "symptom_reports.csv": _symptom_rows(session, bounds),
        "doses.csv": _dose_rows(session, bounds),
        "escalations.csv": _escalation_rows(session, bounds),
        "messages.csv": _message_rows(session, bounds, include_text=include_text),
    }
    rows[DICTIONARY_FILE] = _dictionary_rows(files)
    contents = {name: _csv(columns, rows[name]) for name, columns in files.items()}
    sources = redcap.SOURCES.values()
    contents |= redcap.bundle(
        {name: ([c.name for c in files[name]], rows[name]) for name in sources}
    )
    return contents, {name: len(rows[name]) for name in files}


def _digits_pattern(digits: str) -> str:
    """A run of digits, allowing the separators people write numbers with, not inside others."""
    return r"(?<!\d)" + r"[\s().+-]{0,3}".join(digits) + r"(?!\d)"


def _address_forms(channel: Channel, address: str) -> list[str]:
    """The digit strings a phone number or chat ID may be written as."""
    if channel is Channel.SMS:
        try:
            number = phonenumbers.parse(address, None)
        except phonenumbers.NumberParseException:
            return [re.sub(r"\D", "", address)]
        national = str(number.national_number)
        return [f"{number.country_code}{national}", national]
    return [re.sub(r"\D", "", address)]


def _address_pattern(session: Session) -> re.Pattern[str] | None:
    """One pattern matching every participant's phone number or chat ID, however written."""
    forms: set[str] = set()
    rows = session.execute(
        select(Participant).where(Participant.address_encrypted.is_not(None))
    ).scalars()
    for participant in rows:
        try:
            address = address_of(participant)
        except ValueError:
            logger.warning("participant %s: address cannot be decrypted to check", participant.id)
            continue
        if address:
            forms.update(_address_forms(participant.channel, address))
    patterns = [_digits_pattern(form) for form in sorted(forms) if len(form) >= MIN_ADDRESS_DIGITS]
    return re.compile("|".join(patterns)) if patterns else None


def _check_no_addresses(session: Session, files: dict[str, bytes]) -> None:
    """ExportError when any file holds a participant's phone number or chat ID."""
    pattern = _address_pattern(session)
    if pattern is None:
        return
    for name, content in files.items():
        if pattern.search(content.decode("utf-8")):
            logger.error("export stopped: %s holds a participant's address", name)
            raise ExportError(
                f"{name} would contain a participant's phone number or chat ID; "
                "nothing was exported"
            )


def _write(files: dict[str, bytes], out: Path | BinaryIO, folder: str) -> str:
    """Write the files to a folder, a .zip path or a binary stream (a zip); where, in words."""
    if isinstance(out, Path) and out.suffix.lower() != ".zip":
        out.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (out / name).write_bytes(content)
        return "a folder"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(f"{folder}/{name}", content)
    return "a zip file"


def _require_text_permission(session: Session, actor: str) -> None:
    """NotAllowed unless the actor is an active user whose role may export message text."""
    user = get_user_by_username(session=session, username=actor)
    if user is None or not user.active or not allows(user.role, Permission.EXPORT_MESSAGE_TEXT):
        raise NotAllowed("only an admin may export message text")


def folder_name(bounds: Bounds) -> str:
    """The export's name: trialbot-export_<first day, or all>_to_<last day>, and
    _with-test-traffic when web-chat visitors are in it."""
    first = f"{bounds.start:%Y-%m-%d}" if bounds.start else "all"
    test = "_with-test-traffic" if bounds.include_test else ""
    return f"trialbot-export_{first}_to_{bounds.last_day:%Y-%m-%d}{test}"


def readme(bounds: Bounds, rows: dict[str, int], *, include_text: bool) -> bytes:
    """README.txt: what the export holds (period, test traffic, message text, row counts)."""
    period = (
        f"Period: {bounds.label}, chosen by the exporter."
        if bounds.start
        else f"Period: everything, from the first data to {bounds.last_day:%Y-%m-%d} (UTC)."
    )
    test = (
        "Test traffic (web-chat visitors, channel web) is included."
        if bounds.include_test
        else "Test traffic (web-chat visitors) is left out."
    )
    text = "Message text is included, masked." if include_text else "No message text."
    counts = [f"  {name}: {count} rows" for name, count in rows.items()]
    lines = [
        "De-identified export of Trial Companion, keyed by study ID.",
        period,
        "Rows are those of the period: check-ins by started_at, symptom and dose reports by "
        "reported_at, escalations and messages by created_at; participants enrolled before "
        "its end.",
        test,
        text,
        f"Every column of every file is described in {DICTIONARY_FILE}.",
        "Files:",
        *counts,
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


@dataclass(frozen=True)
class ExportSummary:
    """What an export held: data rows per file, and whether message text was included."""

    bounds: Bounds
    rows: dict[str, int]
    include_text: bool
    folder: str


def export(
    *,
    session: Session,
    out: Path | BinaryIO,
    since: date | None,
    until: date | None,
    include_text: bool,
    actor: str,
    now: datetime | None = None,
    include_test: bool = False,
) -> ExportSummary:
    """Export the period de-identified to `out` (a folder, a .zip path or a stream); audited.

    Test traffic (participants marked `is_test`: web-chat visitors) is left out unless
    `include_test`.

    Raises NotAllowed when message text is asked for by someone who may not export it, and
    ExportError when a file would contain a phone number or chat ID (nothing is written).
    """
    if include_text:
        _require_text_permission(session, actor)
    bounds = Bounds.from_dates(since, until, now=now or utcnow(), include_test=include_test)
    files, rows = _build(session, bounds, include_text=include_text)
    _check_no_addresses(session, files)
    files[README_FILE] = readme(bounds, rows, include_text=include_text)
    folder = folder_name(bounds)
    where = _write(files, out, folder)
    counts = ", ".join(f"{name} {count}" for name, count in rows.items() if name != DICTIONARY_FILE)
    audit.record(
        session=session,
        actor=actor,
        action=AuditAction.DATA_EXPORTED,
        detail=f"de-identified export, {bounds.label}, to {where}; rows: {counts}; "
        + ("message text included, masked" if include_text else "no message text")
        + ("; test traffic included" if include_test else ""),
    )
    logger.info("export %s by %s: %s", folder, actor, counts)
    return ExportSummary(bounds=bounds, rows=rows, include_text=include_text, folder=folder)


# --- command line -----------------------------------------------------------------------


def _day_argument(text: str) -> date:
    """A YYYY-MM-DD argument."""
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from error


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m bot.research.export`."""
    parser = argparse.ArgumentParser(
        prog="trialbot export", description="Export the study's data de-identified, as CSV."
    )
    parser.add_argument("--out", type=Path, required=True, help="a folder, or a file ending .zip")
    parser.add_argument(
        "--since", type=_day_argument, help="first day (UTC), YYYY-MM-DD; default: the first data"
    )
    parser.add_argument(
        "--until", type=_day_argument, help="last day (UTC), included; default: today"
    )
    parser.add_argument(
        "--include-text",
        action="store_true",
        help="add message text, masked (needs --as-admin)",
    )
    parser.add_argument(
        "--as-admin", metavar="USERNAME", help="the admin user doing the export (audit log)"
    )
    parser.add_argument(
        "--include-test",
        action="store_true",
        help="export test traffic (web-chat visitors) too; left out by default",
    )
    return parser


def _actor(session: Session, username: str | None) -> str:
    """The audit actor: the named user (who must be allowed to export), else "system"."""
    if username is None:
        return SYSTEM_ACTOR
    user = get_user_by_username(session=session, username=username)
    if user is None or not user.active or not allows(user.role, Permission.EXPORT_DATA):
        raise NotAllowed(f"{username} is not an active user allowed to export data")
    return user.username


def main(argv: Sequence[str] | None = None) -> int:
    """Run an export from the command line; 0 on success, 1 when it was refused."""
    from bot.db.session import session_scope

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.include_text and not args.as_admin:
        parser.error("--include-text needs --as-admin USERNAME")
    try:
        with session_scope() as session:
            summary = export(
                session=session,
                out=args.out,
                since=args.since,
                until=args.until,
                include_text=args.include_text,
                actor=_actor(session, args.as_admin),
                include_test=args.include_test,
            )
    except (NotAllowed, ExportError) as error:
        sys.stderr.write(f"export refused: {error}\n")
        return 1
    counts = ", ".join(f"{name}: {count}" for name, count in summary.rows.items())
    sys.stdout.write(f"Exported {summary.bounds.label} to {args.out} ({counts})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
