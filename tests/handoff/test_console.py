"""Alerts and handoffs in the staff console, through the web app's test client.

Take over, the live chat (poll and send), hand back; alert deliveries on the escalation
page with undelivered ones shown; the web chat page fetching staff messages. Rasa's
tracker endpoints and the Twilio API are local stand-ins. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.alerts.worker import AlertWorker
from bot.core.settings import get_settings
from bot.db.models import (
    AuditEvent,
    Channel,
    Direction,
    EscalationStatus,
    EscalationType,
    Handoff,
    StaffUser,
)
from bot.db.repository import ensure_web_participant, log_message
from bot.db.session import session_scope
from bot.study.config import current_study
from bot.study.wording import messages
from tests.alerts.support import (
    PARTICIPANT_PHONE,
    PASSWORD,
    enroll_sms,
    escalation,
    raise_for,
    sms_texts,
)
from tests.stand_ins.twilio_api import INVALID_NUMBER

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
WEB_SENDER = "web-handofftest01"


@pytest.fixture
def client(
    alert_env: str, staff: dict[str, StaffUser], monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The web app (imported once the test's settings are in place)."""
    # The app is made once per test session, its cookie settings with it: an https public
    # address would make the session cookie Secure for every later test over plain http.
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://trial.example.org")
    get_settings.cache_clear()
    from bot.web.app import app

    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def csrf_of(client: TestClient, path: str) -> str:
    match = CSRF.search(client.get(path).text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def sign_in(client: TestClient, username: str) -> str:
    """Sign in; returns the session's CSRF token."""
    token = csrf_of(client, "/console/sign-in")
    reply = client.post(
        "/console/sign-in",
        data={"username": username, "password": PASSWORD, "csrf_token": token, "next": ""},
    )
    assert reply.status_code == 303, reply.text
    return csrf_of(client, "/console/queue")


def wording(key: str) -> list[str]:
    return messages(current_study(), key, staff_name="Nurse Joy")


def active_handoffs() -> list[Handoff]:
    with session_scope() as session:
        return list(session.execute(select(Handoff).where(Handoff.ended_at.is_(None))).scalars())


async def test_the_escalation_page_shows_each_delivery_and_undelivered_ones(
    client, clock, twilio_api
) -> None:
    raised = raise_for(enroll_sms())
    twilio_api.fail_next(1, status=400, code=INVALID_NUMBER, message="Invalid 'To' number")
    await AlertWorker.from_settings(get_settings(), clock=clock).run_once()
    sign_in(client, "joy")

    page = client.get(f"/console/escalations/{raised.id}").text
    assert "Alert deliveries" in page
    assert "Alert not delivered" in page
    assert 'class="badge emergency">undelivered</span>' in page
    assert "staff:joy" in page and "group chat" in page
    assert "Take over the chat" in page
    assert "alert undelivered" in client.get("/console/queue").text


async def test_a_round_that_reached_nobody_says_so_instead_of_looking_paged(
    client, clock, telegram_api
) -> None:
    with session_scope() as session:
        bob = session.execute(select(StaffUser).where(StaffUser.username == "bob")).scalar_one()
        bob.active = False
    raised = raise_for(enroll_sms())
    alerts = AlertWorker.from_settings(get_settings(), clock=clock)
    await alerts.run_once()
    clock.now = raised.created_at + timedelta(minutes=15)  # the backup round is due
    await alerts.run_once()
    sign_in(client, "joy")

    page = client.get(f"/console/escalations/{raised.id}").text
    table = page[page.index('<table class="deliveries">') : page.index("</table>")]
    assert table.count("nobody to page") == 1
    assert "1 (backup)</td>\n      <td>alert</td>\n      <td>console</td>" in table
    assert "<td>staff:joy</td>" in table and "in their console queue" in table
    assert "<td>queue</td>" not in table
    assert "Alerts reach nobody" in page  # the banner names the backup round too


def test_taking_over_resolves_the_request_to_talk_to_a_person(client, rasa_api) -> None:
    participant = enroll_sms()
    request = raise_for(participant, type=EscalationType.HANDOFF, reason="asked to talk")
    symptom = raise_for(participant)
    csrf = sign_in(client, "joy")

    reply = client.post(f"/console/escalations/{symptom.id}/take-over", data={"csrf_token": csrf})

    assert reply.status_code == 303
    assert escalation(symptom.id).status is EscalationStatus.ACKNOWLEDGED
    resolved = escalation(request.id)
    assert (resolved.status, resolved.resolved_by) == (EscalationStatus.RESOLVED, "joy")
    assert resolved.resolution_note is not None
    assert resolved.resolution_note.startswith("conversation taken over by joy via console")


def test_take_over_talk_and_hand_back(client, rasa_api, twilio_api) -> None:
    participant = enroll_sms()
    raised = raise_for(participant)
    csrf = sign_in(client, "joy")

    reply = client.post(f"/console/escalations/{raised.id}/take-over", data={"csrf_token": csrf})
    [handoff] = active_handoffs()
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/console/handoffs/{handoff.id}"
    assert rasa_api.is_paused(participant.sender_id)
    assert escalation(raised.id).status is EscalationStatus.ACKNOWLEDGED
    assert sms_texts(twilio_api, PARTICIPANT_PHONE) == wording("handoff_started")

    page = client.get(f"/console/handoffs/{handoff.id}").text
    assert "Chat with P-001" in page and "Your message to P-001" in page
    found = re.search(r'data-after="(\d+)"', page)
    assert found
    last = int(found.group(1))

    sent = client.post(
        f"/console/api/handoffs/{handoff.id}/messages",
        json={"text": "Hi, this is Joy. Are you OK?"},
        headers={"X-CSRF-Token": csrf},
    )
    assert sent.status_code == 200, sent.text
    assert sms_texts(twilio_api, PARTICIPANT_PHONE)[-1] == "Hi, this is Joy. Are you OK?"
    with session_scope() as session:
        log_message(
            session=session,
            sender_id=participant.sender_id,
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            text="I am a bit dizzy",
            participant_id=participant.id,
        )
    polled = client.get(f"/console/api/handoffs/{handoff.id}/messages?after={last}").json()
    assert polled["active"] is True
    assert [(m["who"], m["text"]) for m in polled["messages"]] == [
        ("Nurse Joy", "Hi, this is Joy. Are you OK?"),
        ("Participant", "I am a bit dizzy"),
    ]
    assert [m["when"] for m in polled["messages"]] == ["just now", "just now"]
    shown = client.get(f"/console/handoffs/{handoff.id}").text
    assert "Nurse Joy · <time datetime=" in shown and ">just now</time>" in shown

    reply = client.post(f"/console/handoffs/{handoff.id}/hand-back", data={"csrf_token": csrf})
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/console/escalations/{raised.id}"
    assert not rasa_api.is_paused(participant.sender_id)
    assert sms_texts(twilio_api, PARTICIPANT_PHONE)[-1] == wording("handoff_ended")[0]
    assert client.get(f"/console/api/handoffs/{handoff.id}/messages").json()["active"] is False
    with session_scope() as session:
        actions = list(
            session.execute(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("handoff.%"))
                .order_by(AuditEvent.id)
            ).scalars()
        )
    assert actions == [
        "handoff.start",
        "handoff.view",
        "handoff.message",
        "handoff.view",
        "handoff.view",  # the page again, with times in words
        "handoff.end",
        "handoff.view",  # the last poll showed the whole conversation again
    ]


def test_a_web_chat_participant_gets_staff_messages_by_polling(
    client, rasa_api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEB_CHAT_ENABLED", "true")  # off by default with PostgreSQL
    get_settings.cache_clear()
    with session_scope() as session:
        participant = ensure_web_participant(session=session, sender_id=WEB_SENDER)
    raised = raise_for(participant)
    csrf = sign_in(client, "joy")
    client.post(f"/console/escalations/{raised.id}/take-over", data={"csrf_token": csrf})
    [handoff] = active_handoffs()
    client.post(
        f"/console/api/handoffs/{handoff.id}/messages",
        json={"text": "Joy here."},
        headers={"X-CSRF-Token": csrf},
    )

    first = client.get(f"/api/chat/updates?sender={WEB_SENDER}").json()
    assert first["messages"] == [
        {"text": wording("handoff_started")[0], "from": ""},
        {"text": "Joy here.", "from": "Nurse Joy"},
    ]
    assert client.get(f"/api/chat/updates?sender={WEB_SENDER}").json() == {"messages": []}
    assert client.get("/api/chat/updates?sender=sms-nope").status_code == 422


def test_only_the_staff_member_with_the_chat_writes_in_it(client, rasa_api, twilio_api) -> None:
    raised = raise_for(enroll_sms())
    csrf = sign_in(client, "joy")
    client.post(f"/console/escalations/{raised.id}/take-over", data={"csrf_token": csrf})
    [handoff] = active_handoffs()
    client.post("/console/sign-out", data={"csrf_token": csrf})

    csrf = sign_in(client, "bob")
    page = client.get(f"/console/handoffs/{handoff.id}").text
    assert "Only Nurse Joy can write in this chat." in page
    refused = client.post(
        f"/console/api/handoffs/{handoff.id}/messages",
        json={"text": "Bob here"},
        headers={"X-CSRF-Token": csrf},
    )
    assert refused.status_code == 409
    assert refused.json() == {"error": "Nurse Joy is talking with P-001."}
    assert "Bob here" not in sms_texts(twilio_api, PARTICIPANT_PHONE)


def test_a_researcher_cannot_take_over(client, rasa_api) -> None:
    raised = raise_for(enroll_sms())
    csrf = sign_in(client, "rita")

    reply = client.post(f"/console/escalations/{raised.id}/take-over", data={"csrf_token": csrf})

    assert reply.status_code == 403
    assert active_handoffs() == []


def test_take_over_needs_the_csrf_token(client, rasa_api) -> None:
    raised = raise_for(enroll_sms())
    sign_in(client, "joy")

    reply = client.post(f"/console/escalations/{raised.id}/take-over", data={})

    assert reply.status_code == 403
    assert active_handoffs() == []


def test_when_the_assistant_cannot_be_paused_nothing_changes(client, rasa_api, twilio_api) -> None:
    raised = raise_for(enroll_sms())
    csrf = sign_in(client, "joy")
    rasa_api.down()

    reply = client.post(f"/console/escalations/{raised.id}/take-over", data={"csrf_token": csrf})

    assert reply.status_code == 303
    assert reply.headers["location"] == f"/console/escalations/{raised.id}"
    assert active_handoffs() == []
    assert (
        "Not taken over: The assistant could not be paused"
        in client.get(f"/console/escalations/{raised.id}").text
    )
    assert sms_texts(twilio_api, PARTICIPANT_PHONE) == []


def test_the_live_chat_shows_the_participants_language_and_marks_spanish_messages(
    client, rasa_api, twilio_api
) -> None:
    participant = enroll_sms()
    with session_scope() as session:
        stored = session.get(type(participant), participant.id)
        assert stored is not None
        stored.language = "es"
    raised = raise_for(participant)
    csrf = sign_in(client, "joy")
    client.post(f"/console/escalations/{raised.id}/take-over", data={"csrf_token": csrf})
    [handoff] = active_handoffs()
    with session_scope() as session:
        log_message(
            session=session,
            sender_id=participant.sender_id,
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            text="me siento mareado",
            participant_id=participant.id,
        )

    page = client.get(f"/console/handoffs/{handoff.id}").text
    polled = client.get(f"/console/api/handoffs/{handoff.id}/messages").json()

    assert "(sms, Spanish)" in page
    assert "P-001 reads <strong>Spanish</strong>" in page
    assert "notices to them are in Spanish" in page
    assert 'class="badge language" lang="es"' in page.split("me siento mareado")[0]
    assert {message["language"] for message in polled["messages"]} == {"es"}
