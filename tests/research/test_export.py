"""The de-identified export: files and columns, no contact details anywhere, roles, audit."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path

import phonenumbers
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.actions.checkin import FEELING_CHOICES
from bot.core.languages import ENGLISH
from bot.db.models import (
    AuditEvent,
    Channel,
    Checkin,
    CheckinStatus,
    Direction,
    DoseReport,
    EscalationLevel,
    EscalationType,
    Feedback,
    MessageLog,
    Participant,
    StaffRole,
    SymptomReport,
)
from bot.db.repository import log_message
from bot.demo import simulation as demo_data
from bot.escalation.records import raise_escalation
from bot.participants.enrollment import address_of, enroll, link_telegram_chat
from bot.research import redcap
from bot.research.export import (
    CHECKIN_COLUMNS,
    DICTIONARY_FILE,
    README_FILE,
    ExportError,
    export,
    file_columns,
    main,
)
from bot.staff.permissions import NotAllowed
from bot.study.config import current_study
from tests.staff.conftest import fast_password_hashing, staff_keys
from tests.staff.factories import add_user

__all__ = ["fast_password_hashing", "staff_keys"]

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=timezone.utc)
FILES = {
    "participants.csv",
    "checkins.csv",
    "symptom_reports.csv",
    "doses.csv",
    "escalations.csv",
    "messages.csv",
    DICTIONARY_FILE,
}
# Every file of an export: the files above and the REDCap ones.
BUNDLE = FILES | set(redcap.FILES)
# Words only participants wrote: none of them may leave in an export without text.
THEIR_WORDS = ("SECRETANSWER", "QUESTIONWORD", "FREETEXTWORD", "COMMENTWORD", "chest hurts")


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2025, 3, day, hour, tzinfo=timezone.utc)


MESSAGES = [
    ("us", Direction.INBOUND, "my chest hurts, call me on (312) 555-0160", at(5)),
    ("us", Direction.OUTBOUND, "Call 911 now.", at(5, 13)),
    ("tg", Direction.INBOUND, "Hi, this is Mary Jones", at(6)),
    ("us", Direction.INBOUND, "=cmd|' /C calc'!A0", at(7)),
    ("us", Direction.INBOUND, "before the period", datetime(2025, 2, 1, tzinfo=timezone.utc)),
]


@pytest.fixture
def data(session: Session) -> dict[str, Participant]:
    """Two SMS participants (US and UK), a linked and an unlinked Telegram one, their data."""
    study = current_study()
    people = {
        "us": enroll(
            session=session,
            study=study,
            study_id="P-US",
            channel=Channel.SMS,
            timezone_name="America/Chicago",
            phone="+1 312 555 0160",
        ).participant,
        "uk": enroll(
            session=session,
            study=study,
            study_id="P-UK",
            channel=Channel.SMS,
            timezone_name="Europe/London",
            phone="+44 7700 900123",
        ).participant,
        "tg": enroll(
            session=session,
            study=study,
            study_id="P-TG",
            channel=Channel.TELEGRAM,
            timezone_name="UTC",
            language="es",
        ).participant,
        "new": enroll(
            session=session,
            study=study,
            study_id="P-NEW",
            channel=Channel.TELEGRAM,
            timezone_name="UTC",
        ).participant,
    }
    code = people["tg"].enrollment_code
    assert code is not None
    link_telegram_chat(session=session, code=code, chat_id="987654321")
    for participant in people.values():
        participant.enrolled_at = at(1, 9)
    us, tg = people["us"], people["tg"]
    for key, direction, text, when in MESSAGES:
        owner = people[key]
        entry = log_message(
            session=session,
            sender_id=owner.sender_id,
            channel=owner.channel,
            direction=direction,
            text=text,
            participant_id=owner.id,
            delivery_status="received" if direction is Direction.INBOUND else "delivered",
        )
        entry.created_at = when
    checkin = Checkin(
        participant_id=us.id,
        status=CheckinStatus.COMPLETED,
        started_at=at(5, 18),
        completed_at=at(5, 19),
        overall_feeling=2,
        new_problem=True,
        took_medicine="yes",
        question="QUESTIONWORD can I double up?",
        free_text_answers={"feeling": "FREETEXTWORD"},
    )
    session.add(checkin)
    session.flush()
    session.add_all(
        [
            SymptomReport(
                participant_id=us.id,
                checkin_id=checkin.id,
                symptom="cough",
                severity=3,
                grade=3,
                raw_answer="SECRETANSWER bad",
                reported_at=at(5, 19),
            ),
            DoseReport(
                participant_id=us.id,
                checkin_id=checkin.id,
                taken="yes",
                source="checkin",
                reported_at=at(5, 19),
            ),
            Feedback(participant_id=tg.id, rating=4, comment="COMMENTWORD", created_at=at(8)),
        ]
    )
    escalation = raise_escalation(
        session=session,
        participant_id=us.id,
        level=EscalationLevel.URGENT,
        type=EscalationType.SYMPTOM,
        reason="cough: grade 3 (severe)",
    )
    escalation.created_at = at(5, 19)
    escalation.acknowledged_at = at(5, 19).replace(minute=12)
    escalation.acknowledged_by = "joy"
    formula = raise_escalation(
        session=session,
        participant_id=tg.id,
        level=EscalationLevel.ROUTINE,
        type=EscalationType.OTHER,
        reason="=HYPERLINK(1)",
    )
    formula.created_at = at(9)
    session.commit()
    return people


def export_folder(session: Session, folder: Path, **options: object) -> dict[str, list[dict]]:
    """Export to a folder; every file read back as rows of dicts."""
    values: dict = {
        "since": date(2025, 3, 1),
        "until": None,
        "include_text": False,
        "actor": "rita",
        "now": NOW,
    }
    values.update(options)
    export(session=session, out=folder, **values)
    session.commit()
    return {path.name: read_csv(path.read_bytes()) for path in folder.glob("*.csv")}


def read_csv(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def every_byte(folder: Path) -> str:
    """All exported files' contents, as one text."""
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(folder.iterdir()))


def address_forms(participant: Participant) -> list[str]:
    """Every way the participant's phone number or chat ID might be written."""
    address = address_of(participant)
    assert address, participant.study_id
    if participant.channel is not Channel.SMS:
        return [address]
    number = phonenumbers.parse(address, None)
    national = str(number.national_number)
    formats = (
        phonenumbers.PhoneNumberFormat.E164,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.NATIONAL,
    )
    forms = [phonenumbers.format_number(number, style) for style in formats]
    forms += [address.lstrip("+"), national, f"{national[:3]}-{national[3:6]}-{national[6:]}"]
    return forms


# --- files and columns --------------------------------------------------------------------


def test_every_file_is_written_with_its_columns(
    session: Session, data: dict, tmp_path: Path
) -> None:
    files = export_folder(session, tmp_path / "out")

    assert set(files) == BUNDLE
    assert (tmp_path / "out" / README_FILE).is_file()
    for name, columns in file_columns(include_text=False).items():
        header = (tmp_path / "out" / name).read_text().splitlines()[0].split(",")
        assert header == [column.name for column in columns], name
    assert [row["study_id"] for row in files["participants.csv"]] == [
        "P-NEW",
        "P-TG",
        "P-UK",
        "P-US",
    ]
    us = next(row for row in files["participants.csv"] if row["study_id"] == "P-US")
    assert us == {
        "study_id": "P-US",
        "channel": "sms",
        "status": "active",
        "enrolled_date": "2025-03-01",
        "timezone": "America/Chicago",
        "language": "en",
        "opted_out_date": "",
        "at_risk_since": "",
    }
    (checkin,) = files["checkins.csv"]
    assert checkin["started_at"] == "2025-03-05T18:00:00Z"
    assert (checkin["took_medicine"], checkin["asked_question"]) == ("yes", "true")
    (symptom,) = files["symptom_reports.csv"]
    assert (symptom["symptom"], symptom["grade"], symptom["checkin_id"]) == (
        "cough",
        "3",
        checkin["checkin_id"],
    )
    (dose,) = files["doses.csv"]
    assert (dose["study_id"], dose["taken"]) == ("P-US", "yes")
    urgent = files["escalations.csv"][0]
    assert (urgent["level"], urgent["reason"], urgent["minutes_to_acknowledge"]) == (
        "urgent",
        "cough: grade 3 (severe)",
        "12.0",
    )
    assert "ack_code" not in urgent and "acknowledged_by" not in urgent
    lengths = [row["length"] for row in files["messages.csv"]]
    assert lengths == [str(len(text)) for _, _, text, _ in MESSAGES[:4]]
    languages = {row["study_id"]: row["language"] for row in files["participants.csv"]}
    assert languages == {"P-NEW": "en", "P-TG": "es", "P-UK": "en", "P-US": "en"}
    assert [row["language"] for row in files["messages.csv"]] == ["en", "en", "es", "en"]


def test_the_zip_holds_the_same_files_in_a_folder(
    session: Session, data: dict, tmp_path: Path
) -> None:
    buffer = io.BytesIO()

    summary = export(
        session=session,
        out=buffer,
        since=date(2025, 3, 1),
        until=date(2025, 3, 31),
        include_text=False,
        actor="rita",
        now=NOW,
    )

    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        names = archive.namelist()
    assert summary.folder == "trialbot-export_2025-03-01_to_2025-03-31"
    assert sorted(names) == sorted(f"{summary.folder}/{name}" for name in {*BUNDLE, README_FILE})
    assert summary.rows["messages.csv"] == 4
    (tmp_path / "e.zip").write_bytes(b"")
    export(
        session=session,
        out=tmp_path / "e.zip",
        since=None,
        until=None,
        include_text=False,
        actor="rita",
        now=NOW,
    )
    assert zipfile.is_zipfile(tmp_path / "e.zip")


def test_the_data_dictionary_describes_every_column_of_every_file(
    session: Session, data: dict, tmp_path: Path
) -> None:
    add_user(session, "ada", StaffRole.ADMIN)
    for include_text in (False, True):
        folder = tmp_path / str(include_text)
        files = export_folder(session, folder, include_text=include_text, actor="ada")

        described = {(row["file"], row["column"]) for row in files[DICTIONARY_FILE]}
        present = set()
        for name in set(files) - set(redcap.FILES):
            header = (folder / name).read_text().splitlines()[0].split(",")
            present |= {(name, column) for column in header}
        assert described == present
        assert all(row["description"] and row["type"] for row in files[DICTIONARY_FILE])


# --- nothing that identifies ------------------------------------------------------------


def test_no_phone_number_or_chat_id_anywhere_even_with_masked_text(
    session: Session, data: dict, tmp_path: Path
) -> None:
    demo_data.seed(session=session, study=current_study(), now=NOW)
    session.commit()
    add_user(session, "ada", StaffRole.ADMIN)
    participants = list(
        session.execute(select(Participant).where(Participant.address_encrypted.is_not(None)))
        .scalars()
        .all()
    )
    assert len(participants) >= 15
    forms = [form for participant in participants for form in address_forms(participant)]
    assert "(312) 555-0160" in forms and "07700 900123" in forms and "987654321" in forms

    for include_text in (False, True):
        folder = tmp_path / f"text-{include_text}"
        export_folder(session, folder, include_text=include_text, actor="ada", since=None)
        content = every_byte(folder)

        assert "P-US" in content and "DEMO-012" in content
        for form in forms:
            assert form not in content, form
        for participant in participants:
            assert participant.address_encrypted not in content
            assert str(participant.address_hash) not in content
        assert data["new"].enrollment_code and data["new"].enrollment_code not in content


def test_participants_words_stay_out_without_the_option(
    session: Session, data: dict, tmp_path: Path
) -> None:
    files = export_folder(session, tmp_path / "out")
    content = every_byte(tmp_path / "out")

    assert "text" not in files["messages.csv"][0]
    for word in (*THEIR_WORDS, "Mary", "Call 911 now."):
        assert word not in content, word


def test_masked_message_text_only_with_the_option_and_an_admin(
    session: Session, data: dict, tmp_path: Path
) -> None:
    add_user(session, "ada", StaffRole.ADMIN)

    files = export_folder(session, tmp_path / "out", include_text=True, actor="ada")

    texts = [row["text"] for row in files["messages.csv"]]
    assert texts[1] == "Call 911 now."
    assert "chest hurts" in texts[0] and "555" not in texts[0] and "[phone]" in texts[0]
    assert "Mary" not in texts[2] and "[name]" in texts[2]
    assert texts[3].startswith("'=")  # a formula is kept as text in a spreadsheet
    content = every_byte(tmp_path / "out")
    for word in ("SECRETANSWER", "QUESTIONWORD", "FREETEXTWORD", "COMMENTWORD"):
        assert word not in content


@pytest.mark.parametrize("actor", ["rita", "joy", "system", "nobody"])
def test_message_text_is_refused_to_anyone_but_an_admin(
    session: Session, data: dict, tmp_path: Path, actor: str
) -> None:
    add_user(session, "rita", StaffRole.RESEARCHER)
    add_user(session, "joy", StaffRole.STAFF)

    with pytest.raises(NotAllowed):
        export_folder(session, tmp_path / "out", include_text=True, actor=actor)

    assert not (tmp_path / "out").exists()


def test_free_text_cannot_become_a_spreadsheet_formula(
    session: Session, data: dict, tmp_path: Path
) -> None:
    files = export_folder(session, tmp_path / "out")

    assert files["escalations.csv"][1]["reason"] == "'=HYPERLINK(1)"


def test_an_address_that_slips_through_stops_the_export(
    session: Session, data: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(session, "ada", StaffRole.ADMIN)
    monkeypatch.setattr("bot.research.masking.mask_text", lambda text: text)

    with pytest.raises(ExportError, match=r"messages\.csv"):
        export_folder(session, tmp_path / "out", include_text=True, actor="ada")

    session.rollback()
    assert not (tmp_path / "out").exists()
    assert audit_events(session) == []


# --- the period and the audit log -------------------------------------------------------


def test_the_name_and_the_readme_say_the_period_and_whether_test_traffic_is_in(
    session: Session, data: dict, tmp_path: Path
) -> None:
    options = {"include_text": False, "actor": "rita", "now": NOW}

    everything = export(session=session, out=tmp_path / "all", since=None, until=None, **options)
    chosen = export(
        session=session,
        out=tmp_path / "march",
        since=date(2025, 3, 6),
        until=date(2025, 3, 7),
        include_test=True,
        **options,
    )

    assert everything.folder == "trialbot-export_all_to_2025-03-20"
    assert chosen.folder == "trialbot-export_2025-03-06_to_2025-03-07_with-test-traffic"
    whole = (tmp_path / "all" / README_FILE).read_text()
    part = (tmp_path / "march" / README_FILE).read_text()
    assert "Period: everything, from the first data to 2025-03-20 (UTC)." in whole
    assert "Test traffic (web-chat visitors) is left out." in whole
    assert "Period: 2025-03-06 to 2025-03-07 (UTC), chosen by the exporter." in part
    assert "Test traffic (web-chat visitors, channel web) is included." in part
    assert "  checkins.csv: 0 rows" in part


def test_the_period_limits_the_rows(session: Session, data: dict, tmp_path: Path) -> None:
    files = export_folder(session, tmp_path / "out", since=date(2025, 3, 6), until=date(2025, 3, 7))

    assert len(files["messages.csv"]) == 2  # 6 and 7 March
    assert files["checkins.csv"] == []
    assert files["escalations.csv"] == []
    assert len(files["participants.csv"]) == 4


def test_every_export_is_audited(session: Session, data: dict, tmp_path: Path) -> None:
    export_folder(session, tmp_path / "out", since=date(2025, 3, 1), until=date(2025, 3, 31))

    (event,) = audit_events(session)
    assert (event.actor, event.action) == ("rita", "data.export")
    assert "2025-03-01 to 2025-03-31" in event.detail
    assert "messages.csv 4" in event.detail and "no message text" in event.detail


def audit_events(session: Session) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.execute(select(AuditEvent).where(AuditEvent.action == "data.export")).scalars()
    )


# --- command line -----------------------------------------------------------------------


def test_command_line_export(session: Session, data: dict, tmp_path: Path) -> None:
    add_user(session, "rita", StaffRole.RESEARCHER)
    add_user(session, "ada", StaffRole.ADMIN)

    assert main(["--out", str(tmp_path / "plain"), "--since", "2025-03-01"]) == 0
    assert main(["--out", str(tmp_path / "z.zip"), "--as-admin", "rita"]) == 0
    assert main(["--out", str(tmp_path / "no"), "--include-text", "--as-admin", "rita"]) == 1
    assert main(["--out", str(tmp_path / "text"), "--include-text", "--as-admin", "ada"]) == 0
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "x"), "--include-text"])
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "x"), "--since", "March"])

    assert "text" not in read_csv((tmp_path / "plain" / "messages.csv").read_bytes())[0]
    assert "text" in read_csv((tmp_path / "text" / "messages.csv").read_bytes())[0]
    assert not (tmp_path / "no").exists()
    actors = [event.actor for event in audit_events(session)]
    assert actors == ["system", "rita", "ada"]


def test_messages_from_an_unknown_sender_are_not_exported(
    session: Session, data: dict, tmp_path: Path
) -> None:
    session.add(
        MessageLog(
            sender_id="sms-unknown-abc",
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            text="who is this",
            created_at=at(10),
        )
    )
    session.commit()

    files = export_folder(session, tmp_path / "out")

    assert len(files["messages.csv"]) == 4


def test_the_feeling_scale_is_described_as_participants_answer_it() -> None:
    described = next(c for c in CHECKIN_COLUMNS if c.name == "overall_feeling").description
    for choice in FEELING_CHOICES[ENGLISH]:
        point, words = choice["title"].split(" ", 1)
        assert f"{point} {words.lower()}" in described
