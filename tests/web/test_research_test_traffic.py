"""The console's research pages leave test traffic (web-chat visitors) out unless asked for:
a checkbox on the figures page (carried to its plots and links) and on the export form.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bot.db.models import Participant, SymptomReport
from bot.db.repository import ensure_web_participant
from tests.web.test_research import (
    client,
    participant,
    people,
    post_export,
    signed_in,
    unzipped,
)

__all__ = ["client", "participant", "people"]


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
