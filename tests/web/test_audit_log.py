"""The audit-log viewer and its CSV export (bot/web/console/audit_log.py), on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bot.db.models import AuditEvent, StaffRole, StaffUser
from bot.db.types import utcnow
from bot.web.console import audit_log
from tests.staff.factories import add_participant, add_user
from tests.web.test_console import audit_events, signed_in


@pytest.fixture
def people(session: Session) -> dict[str, StaffUser]:
    return {
        "admin": add_user(session, "ada", StaffRole.ADMIN),
        "staff": add_user(session, "joy", StaffRole.STAFF),
        "researcher": add_user(session, "rita", StaffRole.RESEARCHER),
    }


@pytest.fixture
def history(session: Session, people: dict[str, StaffUser]) -> None:
    """P-001's status changed by joy, a formula-looking detail, and rita's figures view."""
    participant = add_participant(session, "P-001")
    add_participant(session, "P-002")
    now = utcnow()
    session.add_all(
        [
            AuditEvent(
                actor="joy",
                action="participant.change",
                participant_id=participant.id,
                detail="status: active -> withdrawn; reason: asked by phone",
                at=now,
            ),
            AuditEvent(actor="joy", action="queue.view", detail="=HYPERLINK(1)", at=now),
            AuditEvent(actor="rita", action="figures.view", detail="all", at=now),
        ]
    )
    session.commit()


def test_only_admins_see_the_audit_log(
    client: TestClient, people: dict[str, StaffUser], history: None
) -> None:
    for username in ("joy", "rita"):
        client.cookies.clear()
        signed_in(client, username)
        assert client.get("/console/audit").status_code == 403
        assert client.get("/console/audit/export.csv").status_code == 403
        assert 'href="/console/audit"' not in client.get("/console/queue").text
    client.cookies.clear()
    signed_in(client, "ada")
    assert 'href="/console/audit"' in client.get("/console/queue").text


def test_filters_by_who_what_when_and_participant(
    client: TestClient, session: Session, history: None
) -> None:
    signed_in(client, "ada")
    today = utcnow().astimezone(audit_log.viewer_zone(None)).date().isoformat()

    by_joy = client.get("/console/audit?actor=joy").text
    changes = client.get("/console/audit?action=participant.change&study_id=P-001").text
    other = client.get("/console/audit?study_id=P-002").text
    nobody = client.get("/console/audit?study_id=P-999").text
    today_only = client.get(f"/console/audit?since={today}&until={today}&actor=rita").text
    bad = client.get("/console/audit?since=yesterday")

    assert "reason: asked by phone" in by_joy and "figures.view</td>" not in by_joy
    assert "participant.change</td>" in changes and "queue.view</td>" not in changes
    assert "<td>P-001</td>" in changes
    assert "No events match." in other and "No events match." in nobody
    assert "figures.view</td>" in today_only and "1 event," in today_only
    assert bad.status_code == 422 and "must look like 2026-03-01" in bad.text
    [viewed] = audit_events(session, "audit.view")[:1]
    assert viewed.detail == "filters: actor=joy; page 1, 2 of 2 shown"


def test_pages_of_events(
    client: TestClient, history: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_log, "PAGE_SIZE", 1)
    signed_in(client, "ada")

    first = client.get("/console/audit?actor=joy").text
    second = client.get("/console/audit?actor=joy&page=2").text

    assert "Page 1 of 2" in first and 'href="?actor=joy&amp;page=2" rel="next"' in first
    assert "Page 2 of 2" in second and 'rel="prev"' in second and 'rel="next"' not in second


def test_the_export_streams_the_filtered_rows_as_csv(
    client: TestClient, session: Session, history: None
) -> None:
    signed_in(client, "ada")

    reply = client.get("/console/audit/export.csv?actor=joy")

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/csv")
    assert reply.headers["content-disposition"].startswith('attachment; filename="audit-log-')
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert [row["action"] for row in rows] == ["participant.change", "queue.view"]
    assert rows[0]["study_id"] == "P-001"
    assert rows[0]["detail"] == "status: active -> withdrawn; reason: asked by phone"
    assert rows[1]["detail"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert "+1" not in reply.text
    [exported] = audit_events(session, "audit.export")
    assert (exported.actor, exported.detail) == ("ada", "filters: actor=joy; 2 rows as CSV")
