"""The research pages of the console: figures, plots, participant pages and the export."""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import (
    AuditEvent,
    Channel,
    Checkin,
    CheckinStatus,
    Direction,
    OutreachStatus,
    Participant,
    ScheduledMessage,
    StaffRole,
    StaffUser,
    SymptomReport,
)
from bot.db.repository import log_message
from bot.participants.enrollment import enroll
from bot.research import plots
from bot.study.config import current_study
from tests.staff.factories import PASSWORD, add_user

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PHONE = "+13125550170"
RESEARCH_PAGES = [
    "/console/research/figures",
    "/console/research/figures/response-rate.png",
    "/console/research/figures/escalations.png",
    "/console/research/figures/symptoms.png",
    "/console/research/participants/P-200",
    "/console/research/participants/P-200/symptoms.png",
    "/console/research/export",
]


@pytest.fixture
def people(session: Session) -> dict[str, StaffUser]:
    """One console user of each role."""
    return {
        "staff": add_user(session, "joy", StaffRole.STAFF),
        "researcher": add_user(session, "rita", StaffRole.RESEARCHER),
        "admin": add_user(session, "ada", StaffRole.ADMIN),
    }


@pytest.fixture
def participant(session: Session) -> Participant:
    """P-200 on SMS: two prompts yesterday and the day before, one answered; a symptom."""
    participant = enroll(
        session=session,
        study=current_study(),
        study_id="P-200",
        channel=Channel.SMS,
        timezone_name="America/Chicago",
        phone=PHONE,
    ).participant
    now = datetime.now(timezone.utc)
    first, second = now - timedelta(days=2), now - timedelta(days=1)
    participant.enrolled_at = now - timedelta(days=3)
    for sent in (first, second):
        session.add(
            ScheduledMessage(
                participant_id=participant.id,
                kind="checkin_prompt",
                due_at=sent,
                dedupe_key=f"checkin:{participant.id}:{sent.isoformat()}",
                status=OutreachStatus.SENT,
                sent_at=sent,
            )
        )
    session.add(
        Checkin(
            participant_id=participant.id,
            status=CheckinStatus.COMPLETED,
            started_at=first + timedelta(minutes=5),
            completed_at=first + timedelta(minutes=8),
        )
    )
    session.add(
        SymptomReport(
            participant_id=participant.id,
            symptom="cough",
            grade=2,
            severity=2,
            raw_answer="moderate",
            reported_at=first + timedelta(minutes=7),
        )
    )
    message = log_message(
        session=session,
        sender_id=participant.sender_id,
        channel=Channel.SMS,
        direction=Direction.INBOUND,
        text="Hi this is Mary, call me at 312-555-0170",
        participant_id=participant.id,
    )
    message.created_at = first + timedelta(minutes=5)
    session.commit()
    return participant


def csrf_of(client: TestClient, path: str) -> str:
    page = client.get(path)
    match = CSRF.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def signed_in(client: TestClient, username: str) -> TestClient:
    token = csrf_of(client, "/console/sign-in")
    reply = client.post(
        "/console/sign-in",
        data={"username": username, "password": PASSWORD, "csrf_token": token, "next": ""},
    )
    assert reply.status_code == 303, reply.text
    return client


def post_export(client: TestClient, **fields: str) -> Response:
    token = csrf_of(client, "/console/queue")
    return client.post("/console/research/export", data={"csrf_token": token, **fields})


def audit_events(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list(session.execute(query).scalars())


def unzipped(reply: Response) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(reply.content)) as archive:
        return {
            name.rsplit("/", 1)[1]: archive.read(name).decode("utf-8")
            for name in archive.namelist()
        }


def header(content: str) -> list[str]:
    return next(csv.reader(io.StringIO(content)))


# --- anonymous ------------------------------------------------------------------------


@pytest.mark.parametrize("path", RESEARCH_PAGES)
def test_anonymous_get_nothing(client: TestClient, participant: Participant, path: str) -> None:
    reply = client.get(path)

    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/console/sign-in?next=")
    assert "P-200" not in reply.text and reply.headers.get("content-type") != "image/png"


def test_anonymous_export_is_refused(client: TestClient, participant: Participant) -> None:
    token = csrf_of(client, "/console/sign-in")

    without_token = client.post("/console/research/export", data={})
    with_token = client.post("/console/research/export", data={"csrf_token": token})

    assert without_token.status_code == 403
    assert with_token.status_code == 303
    assert "zip" not in with_token.headers.get("content-type", "")


# --- figures --------------------------------------------------------------------------


def test_everyone_sees_the_figures(
    client: TestClient, session: Session, people: dict, participant: Participant
) -> None:
    signed_in(client, "joy")

    page = client.get("/console/research/figures")

    assert page.status_code == 200
    assert "Engagement figures: BREATHE-24" in page.text
    assert "<strong>50%</strong>: 1 of 2 prompts answered within 24 h" in page.text
    assert 'href="/console/research/participants/P-200?since=' in page.text
    assert PHONE not in page.text and "Mary" not in page.text
    assert "/console/research/export" not in page.text  # staff cannot export
    assert '<a href="/console/research/figures">Figures</a>' in page.text
    by_language = page.text.split("<h2>By language</h2>")[1].split("</table>")[0]
    assert "<td>English</td>\n      <td>1</td>" in by_language
    assert "<td>Spanish</td>\n      <td>0</td>" in by_language
    (event,) = audit_events(session, "figures.view")
    assert event.actor == "joy" and "1 participants listed" in event.detail


def test_the_figures_page_defines_each_plot_in_text_and_describes_it_in_alt_text(
    client: TestClient, people: dict, participant: Participant
) -> None:
    signed_in(client, "joy")

    page = client.get("/console/research/figures")

    text = html.unescape(page.text)
    for note in plots.FIGURE_NOTES.values():
        assert note in text
    assert 'alt="Line chart of the check-in response rate per ISO week: ' in text
    assert 'alt="Bar chart of escalations raised per ISO week, by level: ' in text
    assert "Symptom grades per ISO week" in text
    assert "mean grade" not in text.lower()


@pytest.mark.parametrize(
    "path",
    [
        "/console/research/figures/response-rate.png",
        "/console/research/figures/escalations.png",
        "/console/research/figures/symptoms.png?since=2025-01-01&until=2025-03-31",
        "/console/research/participants/P-200/symptoms.png",
    ],
)
def test_plots_are_pngs(
    client: TestClient, people: dict, participant: Participant, path: str
) -> None:
    signed_in(client, "rita")

    reply = client.get(path)

    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(reply.content)).width == 900


def test_a_participants_page_is_audited(
    client: TestClient, session: Session, people: dict, participant: Participant
) -> None:
    signed_in(client, "rita")

    page = client.get("/console/research/participants/P-200")
    plot = client.get("/console/research/participants/P-200/symptoms.png")

    assert page.status_code == plot.status_code == 200
    assert "P-200: engagement" in page.text
    assert "sms, English, active" in page.text
    assert "<td>cough</td><td>2 moderate</td>" in page.text
    assert PHONE not in page.text
    events = audit_events(session, "figures.view_participant")
    assert [(event.actor, event.participant_id) for event in events] == [
        ("rita", participant.id),
        ("rita", participant.id),
    ]


def test_unknown_participant_and_bad_dates(
    client: TestClient, people: dict, participant: Participant
) -> None:
    signed_in(client, "rita")

    assert client.get("/console/research/participants/P-999").status_code == 404
    assert client.get("/console/research/figures?since=March").status_code == 400
    assert (
        client.get("/console/research/figures?since=2025-03-10&until=2025-03-01").status_code == 400
    )


# --- export ---------------------------------------------------------------------------


def test_staff_cannot_export(
    client: TestClient, session: Session, people: dict, participant: Participant
) -> None:
    signed_in(client, "joy")

    page = client.get("/console/research/export")
    reply = post_export(client)

    assert page.status_code == reply.status_code == 403
    assert audit_events(session, "data.export") == []
    assert len(audit_events(session, "auth.access_denied")) == 2


def test_a_researcher_downloads_the_zip(
    client: TestClient, session: Session, people: dict, participant: Participant
) -> None:
    signed_in(client, "rita")

    page = client.get("/console/research/export")
    reply = post_export(client, since="", until="")

    assert page.status_code == 200 and 'name="include_text"' not in page.text
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/zip"
    assert reply.headers["content-disposition"].startswith('attachment; filename="trialbot-export')
    files = unzipped(reply)
    assert "P-200" in files["participants.csv"]
    assert "text" not in header(files["messages.csv"])
    everything = "".join(files.values())
    for form in (PHONE, PHONE[1:], "312-555-0170", "3125550170", "Mary"):
        assert form not in everything
    (event,) = audit_events(session, "data.export")
    assert event.actor == "rita" and "no message text" in event.detail


def test_a_researcher_cannot_include_message_text(
    client: TestClient, session: Session, people: dict, participant: Participant
) -> None:
    signed_in(client, "rita")

    reply = post_export(client, include_text="true")

    assert reply.status_code == 403
    assert "cannot export message text" in reply.text
    assert audit_events(session, "data.export") == []
    (denied,) = audit_events(session, "auth.access_denied")
    assert denied.actor == "rita" and "export_message_text" in denied.detail


def test_an_admin_can_include_masked_message_text(
    client: TestClient, session: Session, people: dict, participant: Participant
) -> None:
    signed_in(client, "ada")

    page = client.get("/console/research/export")
    reply = post_export(client, include_text="true")

    assert 'name="include_text"' in page.text
    assert reply.status_code == 200
    files = unzipped(reply)
    (row,) = list(csv.DictReader(io.StringIO(files["messages.csv"])))
    assert "[phone]" in row["text"] and "555" not in row["text"] and "Mary" not in row["text"]
    (event,) = audit_events(session, "data.export")
    assert event.actor == "ada" and "message text included, masked" in event.detail


def test_export_needs_the_csrf_token(
    client: TestClient, session: Session, people: dict, participant: Participant
) -> None:
    signed_in(client, "rita")

    missing = client.post("/console/research/export", data={})
    wrong = client.post("/console/research/export", data={"csrf_token": "not-the-token"})

    assert missing.status_code == wrong.status_code == 403
    assert "zip" not in missing.headers.get("content-type", "")
    assert audit_events(session, "data.export") == []
