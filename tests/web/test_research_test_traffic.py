"""The console's research pages leave test traffic (web-chat visitors) out unless asked for:
a checkbox on the figures page (carried to its plots and links) and on the export form. By
default both cover the whole study.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.models import Checkin, CheckinStatus, Participant, SymptomReport
from bot.db.repository import ensure_web_participant
from bot.demo import simulation as demo_data
from bot.study.config import current_study
from tests.web.test_research import (
    participant,
    people,
    post_export,
    signed_in,
    unzipped,
)

__all__ = ["participant", "people"]

DATE_FIELD = re.compile(r'<input type="date" name="(\w+)" value="([^"]*)"')


@pytest.fixture
def visitor(session: Session, participant: Participant) -> Participant:
    """A web-chat visitor who reported a symptom yesterday (P-200 is the real participant)."""
    visitor = ensure_web_participant(session=session, sender_id="web-visitor-01")
    session.add(
        SymptomReport(
            participant_id=visitor.id,
            symptom="cough",
            grade=4,
            reported_at=datetime.now(timezone.utc) - timedelta(days=1),
        )
    )
    session.commit()
    return visitor


def test_the_figures_page_leaves_test_traffic_out_unless_asked(
    client: TestClient, people: dict, visitor: Participant
) -> None:
    signed_in(client, "rita")

    default = client.get("/console/research/figures").text
    asked = client.get("/console/research/figures?include_test=true").text

    assert "P-200" in default and visitor.study_id not in default
    assert "Test traffic (web-chat visitors) is left out." in default
    assert 'name="include_test" value="true">' in default  # the checkbox, not ticked
    assert visitor.study_id in asked
    assert "Test traffic (web-chat visitors) is included." in asked
    assert "symptoms.png?since=" in asked and "&amp;include_test=true" in asked


def test_the_export_form_leaves_test_traffic_out_unless_asked(
    client: TestClient, people: dict, visitor: Participant
) -> None:
    signed_in(client, "rita")

    default = unzipped(post_export(client, since="", until=""))
    asked = unzipped(post_export(client, since="", until="", include_test="true"))

    assert 'name="include_test"' in client.get("/console/research/export").text
    assert visitor.study_id not in "".join(default.values())
    assert visitor.study_id in asked["participants.csv"]
    assert visitor.study_id in asked["symptom_reports.csv"]


def test_an_export_of_the_demo_with_the_forms_defaults_holds_every_checkin_and_no_visitor(
    client: TestClient, session: Session, people: dict
) -> None:
    demo_data.seed(session=session, study=current_study())
    visitor = ensure_web_participant(session=session, sender_id="web-visitor-02")
    now = datetime.now(timezone.utc)
    session.add(Checkin(participant_id=visitor.id, status=CheckinStatus.COMPLETED, started_at=now))
    session.commit()
    demo = session.execute(
        select(Checkin.id, Checkin.started_at)
        .join(Participant, Participant.id == Checkin.participant_id)
        .where(Participant.is_test.is_(False))
        .order_by(Checkin.started_at)
    ).all()
    signed_in(client, "rita")

    form = " ".join(client.get("/console/research/export").text.split())
    defaults = dict(DATE_FIELD.findall(form))
    reply = post_export(client, **defaults)

    assert defaults == {"since": "", "until": ""}
    assert demo[0].started_at < now - timedelta(days=28)  # older than the old 4-week default
    first_enrolled = session.execute(
        select(func.min(Participant.enrolled_at)).where(Participant.is_test.is_(False))
    ).scalar_one()
    assert f"from the first data ({first_enrolled:%Y-%m-%d})" in form
    assert reply.headers["content-disposition"] == (
        f'attachment; filename="trialbot-export_all_to_{now:%Y-%m-%d}.zip"'
    )
    files = unzipped(reply)
    exported = {
        int(row["checkin_id"]) for row in csv.DictReader(io.StringIO(files["checkins.csv"]))
    }
    assert exported == {row.id for row in demo}
    assert visitor.study_id not in "".join(files.values())
    assert "Period: everything, from the first data" in files["README.txt"]
    assert "Test traffic (web-chat visitors) is left out." in files["README.txt"]


def test_the_figures_page_shows_the_whole_study_by_default(
    client: TestClient, session: Session, people: dict, participant: Participant
) -> None:
    signed_in(client, "rita")
    first = min(
        session.execute(select(Checkin.started_at)).scalars(), default=participant.enrolled_at
    )
    first = min(first, participant.enrolled_at)

    default = client.get("/console/research/figures").text
    chosen = client.get(
        f"/console/research/figures?since={datetime.now(timezone.utc):%Y-%m-%d}"
    ).text

    assert f'name="since" value="{first:%Y-%m-%d}"' in default
    assert "The whole study:" in default
    assert (
        "not the whole study" in chosen
        and 'href="/console/research/figures">show the whole' in chosen
    )
