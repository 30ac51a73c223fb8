"""The export's REDCap files: a Data Dictionary in REDCap's CSV format, and the records to import.

`redcap_data_dictionary.csv` loads in REDCap's Project Setup > Data Dictionary: three
instruments, `participant` (one per record, the record ID is the study ID), `checkin` and
`symptom_report`, with coded choices (PRO-CTCAE scales 0-4, the check-in's answers, the
study's symptoms). `redcap_records.csv` is REDCap's flat "import records" layout for a
project with repeating instruments and no events: record_id, redcap_repeat_instrument,
redcap_repeat_instance, then every field; the participant's row has empty repeat columns,
each check-in and symptom report a row of its own, numbered 1..n per record.

Before importing the records, the instruments `checkin` and `symptom_report` must be set as
repeating (Project Setup > Enable optional modules > Repeating instruments), or REDCap
refuses the rows. The rows are the de-identified export's own (same period, same test
traffic rule, no participant words); times are UTC.
"""

from __future__ import annotations

import csv
import enum
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from bot.nlp.symptoms import symptom_info, symptom_names
from bot.study.config import current_study
from bot.study.pro_ctcae import SCALES, Attribute

DICTIONARY_FILE = "redcap_data_dictionary.csv"
RECORDS_FILE = "redcap_records.csv"
FILES = (DICTIONARY_FILE, RECORDS_FILE)

# REDCap's Data Dictionary columns, exactly as it writes and reads them.
HEADER = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
RECORD_ID = "record_id"
REPEAT_COLUMNS = ("redcap_repeat_instrument", "redcap_repeat_instance")
PARTICIPANT, CHECKIN, SYMPTOM_REPORT = "participant", "checkin", "symptom_report"
REPEATING = (CHECKIN, SYMPTOM_REPORT)
# The export's file each instrument's rows come from.
SOURCES = {
    PARTICIPANT: "participants.csv",
    CHECKIN: "checkins.csv",
    SYMPTOM_REPORT: "symptom_reports.csv",
}
OTHER_SYMPTOM = "other"

DATE = "date_ymd"
DATETIME = "datetime_seconds_ymd"
INTEGER = "integer"
# How REDCap reads each validation type on import.
FORMATS = {DATE: "%Y-%m-%d", DATETIME: "%Y-%m-%d %H:%M:%S"}

Choices = tuple[tuple[str, str], ...]

# The check-in's answers as the participant's buttons code them (bot.actions.checkin).
FEELING: Choices = (
    ("1", "Very bad"),
    ("2", "Not good"),
    ("3", "OK"),
    ("4", "Good"),
    ("5", "Great"),
)
MEDICINE: Choices = (("yes", "Yes"), ("some", "Missed some"), ("no", "No"))


@dataclass(frozen=True)
class Field:
    """One REDCap field: where it sits, how REDCap shows it, and the export column it holds."""

    name: str
    form: str
    type: str
    label: str
    column: str
    choices: Choices = ()
    validation: str = ""
    minimum: str = ""
    maximum: str = ""
    note: str = ""
    section: str = ""

    def row(self) -> list[str]:
        """The field's Data Dictionary row."""
        choices = " | ".join(f"{code}, {label}" for code, label in self.choices)
        return [
            self.name,
            self.form,
            self.section,
            self.type,
            self.label,
            choices,
            self.note,
            self.validation,
            self.minimum,
            self.maximum,
            *[""] * 7,
            f"{SOURCES[self.form]}: {self.column}",
        ]


def _scale(attribute: Attribute) -> Choices:
    """A PRO-CTCAE scale as coded choices: 0, None | 1, Mild | ..."""
    return tuple(
        (str(point), word.capitalize()) for point, word in enumerate(SCALES[attribute].labels)
    )


def symptom_choices(seen: Iterable[str] = ()) -> Choices:
    """The study's symptoms first, then the rest the assistant knows, any others seen, other."""
    known = set(symptom_names())
    codes = dict.fromkeys([*current_study().symptoms_of_interest, *symptom_names(), *sorted(seen)])
    codes.pop(OTHER_SYMPTOM, None)
    labelled = [(code, symptom_info(code).label if code in known else code) for code in codes]
    return (*labelled, (OTHER_SYMPTOM, "Other (not in this list)"))


def _radio(name: str, form: str, label: str, column: str, choices: Choices, **more: str) -> Field:
    """A radio field."""
    return Field(name, form, "radio", label, column, choices, **more)


def fields(symptoms: Choices) -> tuple[Field, ...]:
    """Every field, record ID first, instrument by instrument."""
    utc = "UTC"
    return (
        Field(RECORD_ID, PARTICIPANT, "text", "Study ID", "study_id"),
        Field(
            "channel",
            PARTICIPANT,
            "dropdown",
            "Channel",
            "channel",
            (("sms", "SMS"), ("telegram", "Telegram"), ("web", "Web chat (test traffic)")),
        ),
        Field(
            "status",
            PARTICIPANT,
            "dropdown",
            "Status now",
            "status",
            (("active", "Active"), ("withdrawn", "Withdrawn"), ("completed", "Completed")),
        ),
        Field("enrolled_date", PARTICIPANT, "text", "Enrolled", "enrolled_date", validation=DATE),
        Field("timezone", PARTICIPANT, "text", "Time zone (IANA)", "timezone"),
        Field(
            "language",
            PARTICIPANT,
            "dropdown",
            "Language",
            "language",
            (("en", "English"), ("es", "Spanish")),
        ),
        Field(
            "opted_out_date",
            PARTICIPANT,
            "text",
            "Opted out of messages",
            "opted_out_date",
            validation=DATE,
        ),
        Field(
            "at_risk_since",
            PARTICIPANT,
            "text",
            "At risk of dropping out since",
            "at_risk_since",
            validation=DATETIME,
            note=utc,
        ),
        Field(
            "checkin_id",
            CHECKIN,
            "text",
            "Check-in ID",
            "checkin_id",
            validation=INTEGER,
            section="Check-in (repeating instrument: one instance per check-in)",
        ),
        Field(
            "checkin_status",
            CHECKIN,
            "dropdown",
            "Check-in status",
            "status",
            (
                ("in_progress", "In progress"),
                ("paused", "Paused"),
                ("completed", "Completed"),
                ("stopped", "Stopped"),
            ),
        ),
        Field(
            "checkin_started_at",
            CHECKIN,
            "text",
            "Started",
            "started_at",
            validation=DATETIME,
            note=utc,
        ),
        Field(
            "checkin_completed_at",
            CHECKIN,
            "text",
            "Completed",
            "completed_at",
            validation=DATETIME,
            note=utc,
        ),
        _radio(
            "overall_feeling",
            CHECKIN,
            "How do you feel overall?",
            "overall_feeling",
            FEELING,
        ),
        Field("new_problem", CHECKIN, "yesno", "Any new health problem?", "new_problem"),
        _radio(
            "took_medicine",
            CHECKIN,
            "Took the study medicine as planned?",
            "took_medicine",
            MEDICINE,
        ),
        Field(
            "asked_question",
            CHECKIN,
            "yesno",
            "Left a question for staff",
            "asked_question",
            note="The question's text is not exported.",
        ),
        Field(
            "report_id",
            SYMPTOM_REPORT,
            "text",
            "Symptom report ID",
            "report_id",
            validation=INTEGER,
            section="Symptom report (repeating instrument: one per report)",
        ),
        Field(
            "report_checkin_id",
            SYMPTOM_REPORT,
            "text",
            "Check-in ID",
            "checkin_id",
            validation=INTEGER,
            note="Empty when reported outside a check-in.",
        ),
        Field("symptom", SYMPTOM_REPORT, "dropdown", "Symptom", "symptom", symptoms),
        _radio("severity", SYMPTOM_REPORT, "Severity", "severity", _scale(Attribute.SEVERITY)),
        _radio("frequency", SYMPTOM_REPORT, "Frequency", "frequency", _scale(Attribute.FREQUENCY)),
        _radio(
            "interference",
            SYMPTOM_REPORT,
            "Interference with daily activities",
            "interference",
            _scale(Attribute.INTERFERENCE),
        ),
        Field(
            "grade",
            SYMPTOM_REPORT,
            "text",
            "Grade for alerts (0-4)",
            "grade",
            validation=INTEGER,
            minimum="0",
            maximum="4",
            note="Severity, else frequency, else interference.",
        ),
        Field(
            "reported_at",
            SYMPTOM_REPORT,
            "text",
            "Reported",
            "reported_at",
            validation=DATETIME,
            note=utc,
        ),
    )


def _csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """A UTF-8 CSV file with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def data_dictionary_csv(seen_symptoms: Iterable[str] = ()) -> bytes:
    """The REDCap Data Dictionary (CSV), symptom choices covering any symptom seen in the data."""
    return _csv(HEADER, (field.row() for field in fields(symptom_choices(seen_symptoms))))


def _value(field: Field, value: Any) -> str:
    """A value as REDCap imports it: codes, 1/0 for yes/no, Y-M-D dates and times (UTC)."""
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        value = value.value
    if field.type == "yesno":
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime(FORMATS[field.validation])
    if isinstance(value, date):
        return value.strftime(FORMATS[field.validation])
    return str(value)


Table = tuple[Sequence[str], Sequence[Sequence[Any]]]


def _rows_by_form(tables: Mapping[str, Table]) -> dict[str, list[dict[str, Any]]]:
    """Each instrument's source rows as {column: value}."""
    return {
        form: [dict(zip(tables[source][0], row, strict=True)) for row in tables[source][1]]
        for form, source in SOURCES.items()
    }


def _seen_symptoms(by_form: Mapping[str, list[dict[str, Any]]]) -> set[str]:
    """Every symptom name in the symptom reports."""
    return {str(row["symptom"]) for row in by_form[SYMPTOM_REPORT]}


def records_csv(tables: Mapping[str, Table]) -> bytes:
    """The records to import (CSV) from the export's tables.

    `tables` maps each source file (participants.csv, checkins.csv, symptom_reports.csv) to
    its column names and rows of values (as the export queried them, not yet text).
    """
    by_form = _rows_by_form(tables)
    data = [f for f in fields(symptom_choices(_seen_symptoms(by_form))) if f.name != RECORD_ID]
    records: dict[str, list[list[str]]] = defaultdict(list)
    for form, rows in by_form.items():
        mine = [field for field in data if field.form == form]
        instance: dict[str, int] = defaultdict(int)
        for row in rows:
            record = str(row["study_id"])
            repeat = ["", ""]
            if form in REPEATING:
                instance[record] += 1
                repeat = [form, str(instance[record])]
            values = {field.name: _value(field, row[field.column]) for field in mine}
            records[record].append([record, *repeat, *(values.get(f.name, "") for f in data)])
    header = (RECORD_ID, *REPEAT_COLUMNS, *(field.name for field in data))
    return _csv(header, (row for record in sorted(records) for row in records[record]))


def bundle(tables: Mapping[str, Table]) -> dict[str, bytes]:
    """Both REDCap files of an export, by name."""
    return {
        DICTIONARY_FILE: data_dictionary_csv(_seen_symptoms(_rows_by_form(tables))),
        RECORDS_FILE: records_csv(tables),
    }
