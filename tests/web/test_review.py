"""Conversation log review and NLU review in the console, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rasa.shared.nlu.training_data.loading import load_data
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.db.models import AuditEvent, MessageLog, NluLabel, Participant, StaffRole, StaffUser
from bot.research import nlu_review
from tests.research.review_builders import (
    Scenario,
    TrackerWriter,
    scenario,
    tracker_writer,
    user_event_ids,
)
from tests.staff.factories import PASSWORD, add_user

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SENDER_ROW = re.compile(r'<tr data-sender="([^"]+)">')
QUEUE_ROW = re.compile(r'<tr data-event="(\d+)">')
TIMELINE = re.compile(r'data-kind="([a-z]+)"')
LIST = "/console/review/conversations"
NLU = "/console/review/nlu"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """A test client of the web app (imported once the test's settings are in place)."""
    from bot.web.app import app

    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def trackers(database_url: str) -> Iterator[TrackerWriter]:
    """Rasa's SQL tracker store on the test database."""
    with tracker_writer(database_url) as writer:
        yield writer


@pytest.fixture
def stored(trackers: TrackerWriter, session: Session) -> Scenario:
    """The four shared conversations."""
    return scenario(trackers, session)


@pytest.fixture
def people(session: Session) -> dict[str, StaffUser]:
    """One console user of each role."""
    return {
        "staff": add_user(session, "joy", StaffRole.STAFF),
        "researcher": add_user(session, "rita", StaffRole.RESEARCHER),
        "admin": add_user(session, "ada", StaffRole.ADMIN),
    }


@pytest.fixture
def export_path() -> Path:
    """Where the console's export once wrote: it must never appear (a download instead)."""
    return nlu_review.TRAINING_DATA_DIR / "reviewed.yml"


def csrf_of(client: TestClient, path: str = "/console/sign-in") -> str:
    """The session's CSRF token, read from a page's form."""
    match = CSRF.search(client.get(path).text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def signed_in(client: TestClient, username: str) -> TestClient:
    """The client, signed in."""
    reply = client.post(
        "/console/sign-in",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(client)},
    )
    assert reply.status_code == 303, reply.text
    return client


def listed(client: TestClient, query: str = "") -> list[str]:
    """The conversation IDs the list page shows, in order."""
    reply = client.get(f"{LIST}?{query}")
    assert reply.status_code == 200, reply.text
    return SENDER_ROW.findall(reply.text)


def queued(client: TestClient) -> list[int]:
    """The event IDs the NLU review page offers to label."""
    reply = client.get(NLU)
    assert reply.status_code == 200, reply.text
    return [int(event_id) for event_id in QUEUE_ROW.findall(reply.text)]


def audit_events(session: Session, action: str) -> list[AuditEvent]:
    """Audit events of one action, oldest first."""
    session.expire_all()
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list(session.execute(query).scalars())


def labels(session: Session) -> list[NluLabel]:
    """Every stored label."""
    session.expire_all()
    return list(session.execute(select(NluLabel).order_by(NluLabel.id)).scalars())


# --- who may see what -------------------------------------------------------------------


@pytest.mark.parametrize("path", [LIST, f"{LIST}/P-001", NLU])
def test_anonymous_users_are_sent_to_sign_in(
    client: TestClient, stored: Scenario, path: str
) -> None:
    reply = client.get(path)

    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/console/sign-in")
    assert "P-001" not in reply.text and "blorp" not in reply.text


def test_anonymous_users_cannot_label_or_export(
    client: TestClient, session: Session, stored: Scenario, export_path: Path
) -> None:
    event_id = user_event_ids(session, "P-002")["blorp the thing"]
    token = csrf_of(client)

    label = client.post(f"{NLU}/{event_id}/label", data={"csrf_token": token, "intent": "greet"})
    export = client.post(f"{NLU}/export", data={"csrf_token": token})

    assert label.status_code == export.status_code == 303
    assert labels(session) == [] and not export_path.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", LIST), ("get", f"{LIST}/P-001"), ("get", NLU), ("post", f"{NLU}/export")],
)
def test_staff_cannot_review_logs_or_label(
    client: TestClient,
    session: Session,
    people: dict[str, StaffUser],
    stored: Scenario,
    export_path: Path,
    method: str,
    path: str,
) -> None:
    signed_in(client, "joy")
    token = csrf_of(client, "/console/queue")

    reply = client.get(path) if method == "get" else client.post(path, data={"csrf_token": token})

    assert reply.status_code == 403
    assert "P-002" not in reply.text
    assert not export_path.exists()
    [denied] = audit_events(session, "auth.access_denied")
    assert denied.actor == "joy" and path in denied.detail
    assert audit_events(session, "review.conversations_view") == []


def test_staff_cannot_label(
    client: TestClient, session: Session, people: dict[str, StaffUser], stored: Scenario
) -> None:
    event_id = user_event_ids(session, "P-002")["blorp the thing"]
    signed_in(client, "joy")
    token = csrf_of(client, "/console/queue")

    reply = client.post(f"{NLU}/{event_id}/label", data={"csrf_token": token, "intent": "greet"})

    assert reply.status_code == 403
    assert labels(session) == []


def test_the_navigation_shows_review_to_researchers_only(
    client: TestClient, people: dict[str, StaffUser]
) -> None:
    staff_page = signed_in(client, "joy").get("/console/queue").text
    assert LIST not in staff_page and NLU not in staff_page

    client.cookies.clear()
    researcher_page = signed_in(client, "rita").get("/console/queue").text
    assert f'href="{LIST}"' in researcher_page and f'href="{NLU}"' in researcher_page


# --- the list -----------------------------------------------------------------------------


def test_the_list_shows_conversations_most_recent_first(
    client: TestClient, session: Session, people: dict[str, StaffUser], stored: Scenario
) -> None:
    signed_in(client, "rita")

    assert client.get("/console/review").headers["location"] == LIST
    reply = client.get(LIST)

    assert SENDER_ROW.findall(reply.text) == ["P-004", "P-003", "P-002", "P-001"]
    assert 'href="/console/review/conversations/P-002"' in reply.text
    [event] = audit_events(session, "review.conversations_view")
    assert (event.actor, event.detail) == ("rita", "4 conversations listed (page 1); filters: none")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("study_id=p-002", ["P-002"]),
        ("start=2025-03-04&end=2025-03-04", ["P-002"]),
        ("start=2025-03-07", ["P-004", "P-003"]),
        ("channel=sms", ["P-003", "P-001"]),
        ("intent=report_symptom", ["P-001"]),
        ("intent=faq%2Fplacebo", ["P-002"]),
        ("low_confidence=1", ["P-002"]),
        ("fallback=1", ["P-002"]),
        ("escalated=1", ["P-004", "P-003"]),
        ("handoff=on", ["P-003"]),
        ("escalated=1&channel=web", ["P-004"]),
        ("study_id=&start=&end=&channel=&intent=&page=", ["P-004", "P-003", "P-002", "P-001"]),
    ],
)
def test_the_filters(
    client: TestClient,
    people: dict[str, StaffUser],
    stored: Scenario,
    query: str,
    expected: list[str],
) -> None:
    signed_in(client, "rita")

    assert listed(client, query) == expected


def test_filters_that_do_not_parse_are_reported_and_ignored(
    client: TestClient, session: Session, people: dict[str, StaffUser], stored: Scenario
) -> None:
    signed_in(client, "rita")

    reply = client.get(f"{LIST}?start=yesterday&channel=fax&intent=made_up&page=x")

    assert reply.status_code == 200
    assert "The from date must look like 2025-03-01." in reply.text
    assert "Choose a channel from the list." in reply.text
    assert "Choose an intent from the list." in reply.text
    assert SENDER_ROW.findall(reply.text) == ["P-004", "P-003", "P-002", "P-001"]


def test_the_filters_are_audited(
    client: TestClient, session: Session, people: dict[str, StaffUser], stored: Scenario
) -> None:
    signed_in(client, "ada")

    listed(client, "channel=sms&fallback=1")

    [event] = audit_events(session, "review.conversations_view")
    assert event.actor == "ada"
    assert event.detail == "0 conversations listed (page 1); filters: channel sms, fallback"


# --- the transcript -----------------------------------------------------------------------


def test_the_transcript_shows_intents_actions_slots_and_escalations_in_order(
    client: TestClient, session: Session, people: dict[str, StaffUser], stored: Scenario
) -> None:
    signed_in(client, "rita")

    page = client.get(f"{LIST}/P-001").text

    assert TIMELINE.findall(page) == [
        "session",
        "trigger",
        "participant",
        "action",
        "bot",
        "participant",
        "action",
        "form",
        "slot",
        "bot",
    ]
    assert '<strong class="intent">greet</strong>' in page
    assert '<span class="confidence">0.98</span>' in page
    assert "SYMPTOM: nausea" in page
    assert "<code>utter_greet</code> by RulePolicy" in page
    assert "slot <code>symptom</code> = nausea" in page
    [event] = audit_events(session, "review.transcript_view")
    assert event.actor == "rita"
    assert event.participant_id == stored.participants["P-001"].id
    assert event.detail == "transcript shown: 10 entries, 2 participant messages"


def test_the_transcript_merges_escalations_and_staff_messages(
    client: TestClient, people: dict[str, StaffUser], stored: Scenario
) -> None:
    signed_in(client, "rita")

    page = client.get(f"{LIST}/P-003").text

    assert TIMELINE.findall(page) == [
        "participant",
        "escalation",
        "action",
        "bot",
        "pause",
        "outbound",
        "inbound",
    ]
    assert "asked to talk to a person" in page
    assert f'href="/console/escalations/{stored.escalations["handoff"].id}"' in page
    assert "Hello, this is the study nurse. How can I help?" in page
    assert "conversation paused" in page


def test_the_transcript_flags_low_confidence_and_red_flags(
    client: TestClient, people: dict[str, StaffUser], stored: Scenario
) -> None:
    signed_in(client, "rita")

    unsure = client.get(f"{LIST}/P-002").text
    alarming = client.get(f"{LIST}/P-004").text

    assert unsure.count("low confidence</span>") == 2
    assert '<strong class="intent">faq/placebo</strong>' in unsure
    assert "topic 0.45" in unsure
    assert "red flag: chest_pain" in alarming


def test_the_transcript_of_a_date_range(
    client: TestClient, people: dict[str, StaffUser], stored: Scenario
) -> None:
    signed_in(client, "rita")

    page = client.get(f"{LIST}/P-003?start=2025-03-08").text

    assert TIMELINE.findall(page) == []
    assert "Nothing in this conversation on these dates." in page


def test_an_unknown_conversation_is_not_found(
    client: TestClient, session: Session, people: dict[str, StaffUser], stored: Scenario
) -> None:
    signed_in(client, "rita")

    reply = client.get(f"{LIST}/nobody")

    assert reply.status_code == 404
    assert audit_events(session, "review.transcript_view") == []


# --- the NLU review queue -----------------------------------------------------------------


def test_a_researcher_labels_and_the_message_leaves_the_queue(
    client: TestClient, session: Session, people: dict[str, StaffUser], stored: Scenario
) -> None:
    ids = user_event_ids(session, "P-002")
    signed_in(client, "rita")

    assert queued(client) == [ids["blorp the thing"], ids["whats the fake pill"]]
    page = client.get(NLU).text
    assert '<option value="faq/placebo" selected>' in page
    assert '<option value="out_of_scope">out of scope</option>' in page
    token = csrf_of(client, NLU)

    reply = client.post(
        f"{NLU}/{ids['blorp the thing']}/label", data={"csrf_token": token, "intent": "greet"}
    )

    assert reply.status_code == 303 and reply.headers["location"] == NLU
    page = client.get(NLU).text
    assert f"Message {ids['blorp the thing']} labelled greet." in page
    assert QUEUE_ROW.findall(page) == [str(ids["whats the fake pill"])]
    [stored_label] = labels(session)
    assert (stored_label.intent, stored_label.labelled_by) == ("greet", "rita")
    [event] = audit_events(session, "nlu.label")
    assert event.actor == "rita" and event.participant_id == stored.participants["P-002"].id
    assert len(audit_events(session, "nlu.queue_view")) == 4  # every view of the page


def test_out_of_scope_and_bad_labels(
    client: TestClient, session: Session, people: dict[str, StaffUser], stored: Scenario
) -> None:
    ids = user_event_ids(session, "P-002")
    signed_in(client, "ada")
    token = csrf_of(client, NLU)
    path = f"{NLU}/{ids['whats the fake pill']}/label"

    bad = client.post(path, data={"csrf_token": token, "intent": "not_an_intent"})
    assert "is not an intent of this assistant" in client.get(NLU).text
    good = client.post(path, data={"csrf_token": token, "intent": "out_of_scope"})
    again = client.post(path, data={"csrf_token": token, "intent": "greet"})

    assert bad.status_code == good.status_code == again.status_code == 303
    assert "labelled already by ada" in client.get(NLU).text
    [stored_label] = labels(session)
    assert (stored_label.intent, stored_label.out_of_scope) == (None, True)


def test_label_and_export_need_the_csrf_token(
    client: TestClient,
    session: Session,
    people: dict[str, StaffUser],
    stored: Scenario,
    export_path: Path,
) -> None:
    event_id = user_event_ids(session, "P-002")["blorp the thing"]
    signed_in(client, "rita")
    csrf_of(client, NLU)

    missing = client.post(f"{NLU}/{event_id}/label", data={"intent": "greet"})
    wrong = client.post(
        f"{NLU}/{event_id}/label", data={"intent": "greet", "csrf_token": "not-the-token"}
    )
    export = client.post(f"{NLU}/export", data={"csrf_token": "not-the-token"})

    assert missing.status_code == wrong.status_code == export.status_code == 403
    assert labels(session) == [] and not export_path.exists()
    assert audit_events(session, "nlu.label") == audit_events(session, "nlu.export") == []


def test_a_researcher_exports_the_labels(
    client: TestClient,
    session: Session,
    people: dict[str, StaffUser],
    stored: Scenario,
    export_path: Path,
    tmp_path: Path,
) -> None:
    ids = user_event_ids(session, "P-002")
    signed_in(client, "rita")
    token = csrf_of(client, NLU)
    for text, intent in (
        ("blorp the thing", "out_of_scope"),
        ("whats the fake pill", "faq/placebo"),
    ):
        client.post(f"{NLU}/{ids[text]}/label", data={"csrf_token": token, "intent": intent})
    assert "Download 2 labelled" in client.get(NLU).text

    training_data = sorted(nlu_review.TRAINING_DATA_DIR.rglob("*"))

    reply = client.post(f"{NLU}/export", data={"csrf_token": token})
    again = client.post(f"{NLU}/export", data={"csrf_token": token})

    assert reply.status_code == 200
    assert reply.headers["content-disposition"] == (
        f'attachment; filename="nlu-reviewed-{datetime.now(timezone.utc):%Y-%m-%d}.yml"'
    )
    assert reply.text.startswith(nlu_review.EXPORT_MARK)
    downloaded = tmp_path / "nlu-reviewed.yml"
    downloaded.write_text(reply.text, encoding="utf8")
    data = load_data(str(downloaded))
    assert {(m.get("intent"), m.get("text")) for m in data.intent_examples} == {
        ("out_of_scope", "blorp the thing"),
        ("faq", "whats the fake pill"),
    }
    assert sorted(nlu_review.TRAINING_DATA_DIR.rglob("*")) == training_data
    assert not export_path.exists()
    assert again.status_code == 303  # nothing new: no empty download
    assert "No new examples to export." in client.get(NLU).text
    assert "Download 0 labelled" in client.get(NLU).text
    assert all(row.exported_at is not None for row in labels(session))
    [event] = audit_events(session, "nlu.export")
    assert event.actor == "rita" and "a console download" in event.detail


# --- languages ----------------------------------------------------------------------------


def test_the_list_filters_by_language_and_the_transcript_marks_spanish_messages(
    client: TestClient, session: Session, people: dict[str, StaffUser], stored: Scenario
) -> None:
    p003 = session.get(Participant, stored.participants["P-003"].id)
    assert p003 is not None
    p003.language = "es"
    session.execute(
        update(MessageLog).where(MessageLog.participant_id == p003.id).values(language="es")
    )
    session.commit()
    signed_in(client, "rita")

    page = client.get(LIST).text
    spanish_only = listed(client, "language=es")
    refused = client.get(f"{LIST}?language=fr").text
    spanish = client.get(f"{LIST}/P-003").text
    english = client.get(f"{LIST}/P-001").text

    assert '<option value="es">Spanish</option>' in page
    assert spanish_only == ["P-003"]
    assert "Choose a language from the list." in refused
    assert "P-003, sms, Spanish, active" in spanish
    badge = '<span class="badge language" lang="es" title="Spanish">ES</span>'
    assert spanish.count(badge) == 4  # request, reply, the nurse's message, STOP
    assert badge not in english
    [event] = [
        e for e in audit_events(session, "review.conversations_view") if "language" in e.detail
    ]
    assert event.detail.endswith("filters: language es")
