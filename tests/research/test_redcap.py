"""The REDCap files read back with the rules REDCap documents for dictionaries and imports."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bot.actions.checkin import FEELING_CHOICES, MEDICINE_CHOICES
from bot.db.models import Channel, Checkin, CheckinStatus, Participant, SymptomReport
from bot.research import redcap
from bot.study.config import current_study
from tests.research.test_export import export_folder
from tests.research.test_figures import Builder, at

# The header row of a Data Dictionary REDCap itself downloads, as it is in the file.
REDCAP_HEADER_ROW = (
    '"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
    '"Choices, Calculations, OR Slider Labels","Field Note",'
    '"Text Validation Type OR Show Slider Number","Text Validation Min",'
    '"Text Validation Max","Identifier?","Branching Logic (Show field only if...)",'
    '"Required Field?","Custom Alignment","Question Number (surveys only)",'
    '"Matrix Group Name","Matrix Ranking?","Field Annotation"'
)
HEADER = next(csv.reader([REDCAP_HEADER_ROW]))
FIELD_TYPES = {
    "text", "notes", "dropdown", "radio", "checkbox", "yesno", "truefalse", "calc", "file",
    "slider", "descriptive", "sql",
}  # fmt: skip
VALIDATION_FORMATS = {
    "date_ymd": r"\d{4}-\d{2}-\d{2}",
    "datetime_ymd": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}",
    "datetime_seconds_ymd": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    "integer": r"-?\d+",
    "number": r"-?\d+(\.\d+)?",
    "time": r"\d{2}:\d{2}",
}
VARIABLE = re.compile(r"^[a-z][a-z0-9_]*$")
CHOICE = re.compile(r"^(?P<code>[A-Za-z0-9_]+), (?P<label>[^|]+)$")
RESERVED = {"record", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"}
CODED = {"radio", "dropdown", "checkbox"}
YESNO = {"yesno": {"1", "0"}, "truefalse": {"1", "0"}}


def read(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


def dictionary(content: bytes) -> list[dict[str, str]]:
    rows = read(content)
    assert rows[0] == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in rows[1:]]


def choices_of(text: str) -> dict[str, str]:
    """REDCap's "code, label | code, label" choices; codes must be unique."""
    pairs = [CHOICE.match(part) for part in text.split(" | ")]
    assert all(pairs), text
    codes = [pair["code"] for pair in pairs if pair]
    assert len(codes) == len(set(codes)), text
    return {pair["code"]: pair["label"] for pair in pairs if pair}


def check_dictionary(fields: list[dict[str, str]]) -> None:
    """REDCap's Data Dictionary rules."""
    names = [field["Variable / Field Name"] for field in fields]
    assert names[0] == redcap.RECORD_ID
    assert fields[0]["Form Name"] == redcap.PARTICIPANT
    assert len(names) == len(set(names))
    for field in fields:
        name, kind = field["Variable / Field Name"], field["Field Type"]
        assert VARIABLE.match(name) and len(name) <= 26, name
        assert name not in RESERVED and not name.endswith("_complete"), name
        assert VARIABLE.match(field["Form Name"]), name
        assert kind in FIELD_TYPES, name
        validation = field["Text Validation Type OR Show Slider Number"]
        assert not validation or (kind == "text" and validation in VALIDATION_FORMATS), name
        if kind in CODED:
            assert choices_of(field["Choices, Calculations, OR Slider Labels"]), name
        elif kind != "calc":
            assert not field["Choices, Calculations, OR Slider Labels"], name


def check_records(fields: list[dict[str, str]], content: bytes) -> list[dict[str, str]]:
    """REDCap's import rules for repeating instruments; the rows as dicts."""
    rows = read(content)
    by_name = {field["Variable / Field Name"]: field for field in fields}
    assert rows[0][:3] == [redcap.RECORD_ID, *redcap.REPEAT_COLUMNS]
    assert set(rows[0][3:]) == set(by_name) - {redcap.RECORD_ID}
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    forms = {field["Form Name"] for field in fields}
    last: dict[tuple[str, str], int] = {}
    for record in records:
        instrument = record["redcap_repeat_instrument"]
        if instrument:
            assert instrument in forms and instrument != redcap.PARTICIPANT
            key = (record[redcap.RECORD_ID], instrument)
            assert int(record["redcap_repeat_instance"]) == last.get(key, 0) + 1
            last[key] = int(record["redcap_repeat_instance"])
        else:
            assert record["redcap_repeat_instance"] == ""
        form = instrument or redcap.PARTICIPANT
        for name, value in record.items():
            field = by_name.get(name)
            if field is None or not value or name == redcap.RECORD_ID:
                continue
            assert field["Form Name"] == form, (name, form)
            check_value(field, value)
    return records


def check_value(field: dict[str, str], value: str) -> None:
    """A value is one of its field's codes, or matches its validation."""
    kind = field["Field Type"]
    if kind in CODED:
        assert value in choices_of(field["Choices, Calculations, OR Slider Labels"]), value
    elif kind in YESNO:
        assert value in YESNO[kind], value
    validation = field["Text Validation Type OR Show Slider Number"]
    if validation:
        assert re.fullmatch(VALIDATION_FORMATS[validation], value), (validation, value)


def test_the_dictionary_follows_redcaps_rules() -> None:
    check_dictionary(dictionary(redcap.data_dictionary_csv()))


def test_codes_are_the_assistants_own() -> None:
    fields = {f["Variable / Field Name"]: f for f in dictionary(redcap.data_dictionary_csv())}
    coded = {
        name: choices_of(f["Choices, Calculations, OR Slider Labels"])
        for name, f in fields.items()
        if f["Choices, Calculations, OR Slider Labels"]
    }

    assert coded["severity"] == {
        "0": "None", "1": "Mild", "2": "Moderate", "3": "Severe", "4": "Very severe",
    }  # fmt: skip
    assert list(coded["frequency"]) == list(coded["interference"]) == ["0", "1", "2", "3", "4"]
    assert list(coded["symptom"])[: len(current_study().symptoms_of_interest)] == list(
        current_study().symptoms_of_interest
    )
    assert list(coded["symptom"])[-1] == redcap.OTHER_SYMPTOM
    buttons = {"overall_feeling": FEELING_CHOICES, "took_medicine": MEDICINE_CHOICES}
    for name, options in buttons.items():
        english = options["en"]
        assert [b["payload"] for b in english] == list(coded[name]), name
        assert [b["title"].removeprefix(f"{b['payload']} ") for b in english] == list(
            coded[name].values()
        ), name


@pytest.fixture
def seeded(session: Session) -> dict[str, Participant]:
    """Two participants with check-ins and symptom reports, and a web-chat test visitor."""
    build = Builder(session)
    people = {
        "a": build.participant("P-A"),
        "b": build.participant("P-B", opted_out_at=at(9, 8)),
        "web": build.participant("WEB-1", channel=Channel.WEB, is_test=True),
    }
    session.flush()
    for day, who in ((3, "a"), (4, "b"), (5, "a"), (6, "web")):
        checkin = Checkin(
            participant_id=people[who].id,
            status=CheckinStatus.COMPLETED,
            started_at=at(day, 18),
            completed_at=at(day, 18, 5),
            overall_feeling=2,
            new_problem=True,
            took_medicine="some",
            question="SECRETQUESTION",
        )
        session.add(checkin)
        session.flush()
        session.add(
            SymptomReport(
                participant_id=people[who].id,
                checkin_id=checkin.id,
                symptom="cough",
                severity=3,
                frequency=2,
                grade=3,
                raw_answer="SECRETANSWER",
                reported_at=at(day, 18, 4),
            )
        )
    session.add(
        SymptomReport(
            participant_id=people["a"].id,
            symptom="other",
            severity=1,
            grade=1,
            reported_at=at(7, 9),
        )
    )
    session.commit()
    return people


def test_a_round_trip_on_seeded_data(session: Session, seeded: dict, tmp_path: Path) -> None:
    export_folder(session, tmp_path / "out", since=None)
    folder = tmp_path / "out"
    fields = dictionary((folder / redcap.DICTIONARY_FILE).read_bytes())
    check_dictionary(fields)
    records = check_records(fields, (folder / redcap.RECORDS_FILE).read_bytes())

    keys = [
        (r["record_id"], r["redcap_repeat_instrument"], r["redcap_repeat_instance"])
        for r in records
    ]
    assert keys == [
        ("P-A", "", ""),
        ("P-A", "checkin", "1"),
        ("P-A", "checkin", "2"),
        ("P-A", "symptom_report", "1"),
        ("P-A", "symptom_report", "2"),
        ("P-A", "symptom_report", "3"),
        ("P-B", "", ""),
        ("P-B", "checkin", "1"),
        ("P-B", "symptom_report", "1"),
    ]
    text = "".join(path.read_text() for path in folder.iterdir() if path.name in redcap.FILES)
    assert "WEB-1" not in text and "SECRET" not in text
    participant, first = records[6], records[7]
    assert participant["channel"] == "sms" and participant["opted_out_date"] == "2025-03-09"
    assert participant["enrolled_date"] == "2025-02-01" and participant["checkin_id"] == ""
    assert first["checkin_started_at"] == f"{at(4, 18):%Y-%m-%d %H:%M:%S}"
    assert (first["overall_feeling"], first["new_problem"], first["took_medicine"]) == (
        "2",
        "1",
        "some",
    )
    assert first["asked_question"] == "1" and first["channel"] == ""
    report = records[8]
    assert (report["symptom"], report["severity"], report["frequency"]) == ("cough", "3", "2")
    assert report["interference"] == "" and report["report_checkin_id"] == first["checkin_id"]
    assert records[5]["symptom"] == "other"
