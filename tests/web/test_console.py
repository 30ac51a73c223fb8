"""The staff console through the web app's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.settings import Settings, SettingsError
from bot.db.models import (
    AuditEvent,
    Channel,
    Direction,
    Escalation,
    EscalationStatus,
    Participant,
    StaffRole,
    StaffUser,
)
from bot.db.repository import log_message
from bot.participants.enrollment import address_of
from bot.staff.auth import FAILURES_BEFORE_BACKOFF
from bot.web.console.access import safe_next
from bot.web.console.sessions import COOKIE_NAME, cookie_options, session_secret_key
from tests.staff.factories import PASSWORD, add_escalation, add_participant, add_user

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PHONE = "+13125550123"


@pytest.fixture
def people(session: Session) -> dict[str, StaffUser]:
    """One console user of each role."""
    return {
        "staff": add_user(session, "joy", StaffRole.STAFF, display_name="Nurse Joy"),
        "researcher": add_user(session, "rita", StaffRole.RESEARCHER, display_name="Dr Rita"),
        "admin": add_user(session, "ada", StaffRole.ADMIN, display_name="Ada Admin"),
    }


@pytest.fixture
def escalation(session: Session) -> Escalation:
    """An open urgent escalation for P-100, an SMS participant with a phone number."""
    from bot.core.crypto import address_digest, encrypt

    participant = add_participant(session, "P-100")
    participant.address_encrypted = encrypt(PHONE)
    participant.address_hash = address_digest("sms", PHONE)
    session.commit()
    return add_escalation(session, participant, reason="Severe nausea (grade 3)")


def csrf_of(client: TestClient, path: str = "/console/sign-in") -> str:
    """The session's CSRF token, read from a page's form."""
    page = client.get(path)
    match = CSRF.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> Response:
    """Post the sign-in form."""
    token = csrf_of(client)
    return client.post(
        "/console/sign-in",
        data={"username": username, "password": password, "csrf_token": token, "next": ""},
    )


def signed_in(client: TestClient, username: str) -> TestClient:
    """The client, signed in."""
    reply = sign_in(client, username)
    assert reply.status_code == 303, reply.text
    return client


def audit_events(session: Session, action: str | None = None) -> list[AuditEvent]:
    """Audit events, oldest first (optionally one action only)."""
    session.expire_all()
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(session.execute(query).scalars())


def reload(session: Session, escalation: Escalation) -> Escalation:
    """The escalation as stored now."""
    stored = session.get(Escalation, escalation.id, populate_existing=True)
    assert stored is not None
    return stored


# --- anonymous --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/console/queue",
        "/console/escalations/{id}",
        "/console/participants",
        "/console/participants/new",
        "/console/users",
    ],
)
def test_anonymous_pages_redirect_to_sign_in(
    client: TestClient, escalation: Escalation, path: str
) -> None:
    reply = client.get(path.format(id=escalation.id))

    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/console/sign-in?next=%2Fconsole%2F")
    assert "P-100" not in reply.text


def test_anonymous_json_gets_401_and_nothing_else(
    client: TestClient, escalation: Escalation
) -> None:
    reply = client.get("/console/api/queue")

    assert reply.status_code == 401
    assert reply.json() == {"error": "sign in first"}


def test_anonymous_actions_do_nothing(
    client: TestClient, session: Session, escalation: Escalation
) -> None:
    token = csrf_of(client)
    reply = client.post(
        f"/console/escalations/{escalation.id}/acknowledge", data={"csrf_token": token}
    )

    assert reply.status_code == 303 and reply.headers["location"].startswith("/console/sign-in")
    assert reload(session, escalation).status is EscalationStatus.OPEN
    assert audit_events(session, "escalation.acknowledge") == []


# --- signing in -------------------------------------------------------------------------


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_it(
    client: TestClient, people: dict[str, StaffUser]
) -> None:
    reply = sign_in(client, "joy")

    assert reply.status_code == 303
    assert reply.headers["location"] == "/console/queue"
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    for flag in ("path=/console", "Max-Age=3600", "httponly", "samesite=strict"):
        assert flag in cookie
    assert "secure" not in cookie  # the test server is plain http
    assert client.get("/console/queue").status_code == 200

    token = csrf_of(client, "/console/queue")
    out = client.post("/console/sign-out", data={"csrf_token": token})

    assert out.status_code == 303
    assert client.get("/console/queue").status_code == 303


def test_sign_in_returns_to_the_page_asked_for(
    client: TestClient, people: dict[str, StaffUser], escalation: Escalation
) -> None:
    target = f"/console/escalations/{escalation.id}"
    token = csrf_of(client, f"/console/sign-in?next={target}")
    reply = client.post(
        "/console/sign-in",
        data={"username": "joy", "password": PASSWORD, "csrf_token": token, "next": target},
    )

    assert reply.headers["location"] == target


def test_wrong_password_fails(client: TestClient, people: dict[str, StaffUser]) -> None:
    reply = sign_in(client, "joy", "not the password at all")

    assert reply.status_code == 401
    assert "Wrong username or password." in reply.text
    assert client.get("/console/queue").status_code == 303


def test_the_sixth_failure_is_rate_limited(
    client: TestClient, people: dict[str, StaffUser]
) -> None:
    for _ in range(FAILURES_BEFORE_BACKOFF):
        assert sign_in(client, "joy", "a wrong password!").status_code == 401

    reply = sign_in(client, "joy")

    assert reply.status_code == 429
    assert "Too many failed sign-ins. Wait 30 seconds, then try again." in reply.text
    assert reply.headers["Retry-After"] == "30"
    assert client.get("/console/queue").status_code == 303


def test_failures_from_elsewhere_do_not_lock_the_real_user_out(
    database_url: str, people: dict[str, StaffUser]
) -> None:
    from bot.web.app import app

    with TestClient(app, follow_redirects=False, client=("203.0.113.9", 1)) as attacker:
        for _ in range(FAILURES_BEFORE_BACKOFF + 1):
            sign_in(attacker, "joy", "a wrong password!")
        assert sign_in(attacker, "joy").status_code == 429
    with TestClient(app, follow_redirects=False, client=("198.51.100.20", 1)) as nurse:
        assert sign_in(nurse, "joy").status_code == 303


def test_an_inactive_users_session_ends(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    signed_in(client, "joy")
    people["staff"].active = False
    session.commit()

    assert client.get("/console/queue").status_code == 303


# --- CSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_posts_without_the_right_csrf_token_are_refused(
    client: TestClient,
    session: Session,
    people: dict[str, StaffUser],
    escalation: Escalation,
    token: str | None,
) -> None:
    signed_in(client, "joy")
    data = {"csrf_token": token} if token else {}

    acknowledge = client.post(f"/console/escalations/{escalation.id}/acknowledge", data=data)
    enroll = client.post(
        "/console/participants/new",
        data={**data, "study_id": "P-200", "channel": "telegram", "timezone": "UTC"},
    )

    assert acknowledge.status_code == 403 and enroll.status_code == 403
    assert reload(session, escalation).status is EscalationStatus.OPEN
    assert (
        session.execute(select(Participant).where(Participant.study_id == "P-200")).first() is None
    )


def test_sign_in_needs_the_csrf_token_too(client: TestClient, people: dict[str, StaffUser]) -> None:
    client.get("/console/sign-in")
    forged = client.post("/console/sign-in", data={"username": "joy", "password": PASSWORD})

    assert forged.status_code == 403
    assert client.get("/console/queue").status_code == 303


def test_a_sign_in_form_left_until_the_session_expired_is_shown_again(
    client: TestClient, people: dict[str, StaffUser]
) -> None:
    data = {"username": "joy", "password": PASSWORD, "next": "/console/participants"}
    reply = client.post("/console/sign-in", data=data)

    assert reply.status_code == 303
    assert reply.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fparticipants"
    assert client.get("/console/queue").status_code == 303


# --- roles ------------------------------------------------------------------------------


def test_a_researcher_can_look_but_not_acknowledge_or_enroll(
    client: TestClient, session: Session, people: dict[str, StaffUser], escalation: Escalation
) -> None:
    signed_in(client, "rita")
    detail = client.get(f"/console/escalations/{escalation.id}")
    token = CSRF.search(detail.text).group(1)  # type: ignore[union-attr]

    acknowledge = client.post(
        f"/console/escalations/{escalation.id}/acknowledge", data={"csrf_token": token}
    )
    resolve = client.post(
        f"/console/escalations/{escalation.id}/resolve", data={"csrf_token": token, "note": "x"}
    )
    enroll_form = client.get("/console/participants/new")
    enroll = client.post(
        "/console/participants/new",
        data={"csrf_token": token, "study_id": "P-200", "channel": "telegram", "timezone": "UTC"},
    )
    users = client.get("/console/users")

    assert detail.status_code == 200 and "P-100" in detail.text
    assert ">Acknowledge<" not in detail.text
    assert PHONE not in detail.text  # no contact details for researchers
    assert client.get("/console/queue").status_code == 200
    assert client.get("/console/participants").status_code == 200
    assert [acknowledge.status_code, resolve.status_code] == [403, 403]
    assert [enroll_form.status_code, enroll.status_code, users.status_code] == [403, 403, 403]
    assert reload(session, escalation).status is EscalationStatus.OPEN
    assert (
        session.execute(select(Participant).where(Participant.study_id == "P-200")).first() is None
    )
    denied = audit_events(session, "auth.access_denied")
    assert len(denied) == 5 and {event.actor for event in denied} == {"rita"}


def test_staff_acknowledge_and_everyone_sees_who(
    client: TestClient, session: Session, people: dict[str, StaffUser], escalation: Escalation
) -> None:
    signed_in(client, "joy")
    detail = client.get(f"/console/escalations/{escalation.id}")
    assert ">Acknowledge<" in detail.text
    token = CSRF.search(detail.text).group(1)  # type: ignore[union-attr]

    reply = client.post(
        f"/console/escalations/{escalation.id}/acknowledge", data={"csrf_token": token}
    )

    assert reply.status_code == 303
    assert reply.headers["location"] == f"/console/escalations/{escalation.id}"
    stored = reload(session, escalation)
    assert (stored.status, stored.acknowledged_by) == (EscalationStatus.ACKNOWLEDGED, "joy")
    assert "acknowledged by Nurse Joy" in client.get(reply.headers["location"]).text
    assert "acknowledged by Nurse Joy" in client.get("/console/queue").text
    events = audit_events(session, "escalation.acknowledge")
    assert [(e.actor, e.escalation_id, e.participant_id) for e in events] == [
        ("joy", escalation.id, escalation.participant_id)
    ]

    with TestClient(client.app, follow_redirects=False) as other:
        signed_in(other, "rita")
        assert "acknowledged by Nurse Joy" in other.get("/console/queue").text
        api = other.get("/console/api/queue").json()["escalations"]
        assert api[0]["acknowledged_by"] == "Nurse Joy" and api[0]["status"] == "acknowledged"


def test_a_second_acknowledgement_changes_nothing(
    client: TestClient, session: Session, people: dict[str, StaffUser], escalation: Escalation
) -> None:
    signed_in(client, "ada")
    token = csrf_of(client, "/console/queue")
    add_user(session, "sam", StaffRole.STAFF)
    from bot.escalation.queue import acknowledge

    acknowledge(session=session, escalation_id=escalation.id, actor="sam", via="sms")
    session.commit()

    reply = client.post(
        f"/console/escalations/{escalation.id}/acknowledge", data={"csrf_token": token}
    )

    assert reply.status_code == 303
    assert reload(session, escalation).acknowledged_by == "sam"
    assert "Already acknowledged by sam." in client.get(reply.headers["location"]).text


def test_resolve_needs_a_note(
    client: TestClient, session: Session, people: dict[str, StaffUser], escalation: Escalation
) -> None:
    signed_in(client, "joy")
    token = csrf_of(client, "/console/queue")
    path = f"/console/escalations/{escalation.id}/resolve"

    empty = client.post(path, data={"csrf_token": token, "note": "  "})
    assert "Not resolved" in client.get(empty.headers["location"]).text
    assert reload(session, escalation).status is EscalationStatus.OPEN

    client.post(path, data={"csrf_token": token, "note": "Called her back; nausea easing."})

    stored = reload(session, escalation)
    assert stored.status is EscalationStatus.RESOLVED
    assert stored.resolution_note == "Called her back; nausea easing."
    assert (stored.resolved_by, stored.acknowledged_by) == ("joy", "joy")
    assert "P-100" not in client.get("/console/queue").text


# --- what each page shows, and the audit trail ------------------------------------------


def test_detail_shows_the_conversation_from_the_alert_on_and_keeps_the_phone_hidden(
    client: TestClient, session: Session, people: dict[str, StaffUser], escalation: Escalation
) -> None:
    for index in range(25):
        log_message(
            session=session,
            sender_id="P-100",
            participant_id=escalation.participant_id,
            channel=Channel.SMS,
            direction=Direction.INBOUND if index % 2 == 0 else Direction.OUTBOUND,
            text=f"message number {index:02d}",
        )
    session.commit()
    signed_in(client, "joy")

    page = client.get(f"/console/escalations/{escalation.id}").text

    shown = re.findall(r"message number (\d\d)", page)
    assert shown == [f"{index:02d}" for index in range(8)]  # the 8 after it was raised
    for fact in ("P-100", "urgent", "symptom", "Severe nausea (grade 3)", "15 min", "open"):
        assert fact in page
    assert PHONE not in page and ">Show phone number<" in page
    assert f"ACK {escalation.ack_code}" in page


def test_participant_list_has_no_phone_numbers(
    client: TestClient, people: dict[str, StaffUser], escalation: Escalation
) -> None:
    signed_in(client, "joy")

    page = client.get("/console/participants")

    assert page.status_code == 200
    assert "P-100" in page.text and "America/Chicago" in page.text
    assert PHONE not in page.text and "5550123" not in page.text


def test_every_view_of_participant_data_is_audited(
    client: TestClient, session: Session, people: dict[str, StaffUser], escalation: Escalation
) -> None:
    signed_in(client, "rita")

    client.get("/console/queue")
    client.get("/console/api/queue")
    client.get(f"/console/escalations/{escalation.id}")
    client.get("/console/participants")

    views = [
        (event.actor, event.action, event.participant_id, event.escalation_id)
        for event in audit_events(session)
        if event.action.endswith(".view")
    ]
    assert views == [
        ("rita", "queue.view", None, None),  # the JSON a live page fetches again: not audited
        ("rita", "escalation.view", escalation.participant_id, escalation.id),
        ("rita", "participants.view", None, None),
    ]
    queue_detail = audit_events(session, "queue.view")[0].detail
    assert str(escalation.id) in queue_detail


def test_enrollment_through_the_form(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    signed_in(client, "joy")
    token = csrf_of(client, "/console/participants/new")

    sms = client.post(
        "/console/participants/new",
        data={
            "csrf_token": token,
            "study_id": "P-300",
            "channel": "sms",
            "phone": "+1 312 555 0199",
            "timezone": "America/Chicago",
            "checkin_time": "18:30",
        },
    )
    telegram = client.post(
        "/console/participants/new",
        data={"csrf_token": token, "study_id": "P-301", "channel": "telegram", "timezone": "UTC"},
    )
    bad = client.post(
        "/console/participants/new",
        data={"csrf_token": token, "study_id": "P-302", "channel": "sms", "timezone": "UTC"},
    )

    assert sms.status_code == 201 and "Enrolled P-300" in sms.text
    participant = session.execute(
        select(Participant).where(Participant.study_id == "P-300")
    ).scalar_one()
    assert address_of(participant) == "+13125550199"
    assert participant.preferred_contact_time is not None
    assert participant.preferred_contact_time.strftime("%H:%M") == "18:30"
    linked = session.execute(
        select(Participant).where(Participant.study_id == "P-301")
    ).scalar_one()
    assert telegram.status_code == 201 and f"/start {linked.enrollment_code}" in telegram.text
    assert bad.status_code == 400 and "needs a phone number" in bad.text
    events = audit_events(session, "participant.enroll")
    assert [(e.actor, e.participant_id) for e in events] == [
        ("joy", participant.id),
        ("joy", linked.id),
    ]
    assert not any("555" in e.detail for e in events)


# --- headers, cookies and keys ----------------------------------------------------------


def test_console_pages_are_not_cached_or_framed(
    client: TestClient, people: dict[str, StaffUser]
) -> None:
    signed_in(client, "joy")

    page = client.get("/console/queue")

    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in page.text
    assert "set-cookie" not in client.get("/healthz").headers


def test_the_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, public_base_url="https://trial.example.org", secret_key="k" * 40
    )

    options = cookie_options(settings)

    assert options["https_only"] is True
    assert options["same_site"] == "strict"


def test_the_session_key(tmp_path: Path) -> None:
    sqlite = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/x.db", secret_key="")
    made = session_secret_key(sqlite)
    assert len(made) >= 32 and session_secret_key(sqlite) == made
    assert (tmp_path / "session.key").stat().st_mode & 0o777 == 0o600

    postgres = "postgresql://db.example.org/trial"
    for key in ("", "changeme", "too-short"):
        with pytest.raises(SettingsError):
            session_secret_key(Settings(data_dir=tmp_path, database_url=postgres, secret_key=key))
    good = "x" * 40
    assert session_secret_key(Settings(database_url=postgres, secret_key=good)) == good


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/escalations/3", "/console/escalations/3"),
        ("https://evil.example.com/console", "/console/queue"),
        ("//evil.example.com/console", "/console/queue"),
        ("/\\evil.example.com", "/console/queue"),
        ("/api/chat", "/console/queue"),
        ("", "/console/queue"),
    ],
)
def test_sign_in_only_returns_to_console_pages(target: str, expected: str) -> None:
    assert safe_next(target) == expected


# --- languages ----------------------------------------------------------------------------


def test_the_list_and_the_escalation_show_the_language_and_mark_spanish_messages(
    client: TestClient, session: Session, people: dict[str, StaffUser], escalation: Escalation
) -> None:
    participant = session.get(Participant, escalation.participant_id)
    assert participant is not None
    participant.language = "es"
    session.commit()
    for text, language in (("me duele la cabeza", None), ("HELP", "en")):
        log_message(
            session=session,
            sender_id="P-100",
            participant_id=participant.id,
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            text=text,
            language=language,
        )
    session.commit()
    signed_in(client, "joy")

    listed = client.get("/console/participants").text
    detail = client.get(f"/console/escalations/{escalation.id}").text

    assert "P-100" in listed
    assert "<td>Spanish</td>" in listed
    assert "<dt>Language</dt><dd>Spanish</dd>" in detail
    badge = '<span class="badge language" lang="es" title="Spanish">ES</span>'
    spanish, english = detail.split("me duele la cabeza")[0], detail.split("me duele")[1]
    assert spanish.count(badge) == 1
    assert badge not in english


def test_enrollment_language_is_a_choice_checked_by_the_server(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    signed_in(client, "joy")
    form = client.get("/console/participants/new").text
    token = csrf_of(client, "/console/participants/new")

    def enroll(study_id: str, language: str) -> Response:
        return client.post(
            "/console/participants/new",
            data={
                "csrf_token": token,
                "study_id": study_id,
                "channel": "telegram",
                "timezone": "America/Chicago",
                "language": language,
            },
        )

    spanish = enroll("P-310", "es")
    refused = [
        enroll(f"P-31{index}", value) for index, value in enumerate(["fr", "Spanish", "ES"], 1)
    ]

    assert '<select name="language">' in form
    assert '<option value="en" selected>English</option>' in form
    assert '<option value="es">Español</option>' in form
    assert spanish.status_code == 201
    stored = session.execute(
        select(Participant).where(Participant.study_id == "P-310")
    ).scalar_one()
    assert stored.language == "es"
    for reply in refused:
        assert reply.status_code == 400
        assert "choose the language: English or Español" in reply.text
    assert session.execute(select(Participant.study_id)).scalars().all() == ["P-310"]
    [event] = audit_events(session, "participant.enroll")
    assert event.detail == "enrolled on telegram, language es"


def test_every_signed_in_user_sees_a_red_banner_while_an_alert_level_reaches_nobody(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    assert "Alerts reach nobody" not in client.get("/console/sign-in").text  # not signed in
    signed_in(client, "rita")

    page = client.get("/console/participants").text
    assert 'class="error alert-coverage" role="alert"' in page
    assert (
        "emergency alerts reach nobody in the first round (nurse.kim: not an active console "
        "user who may act)" in page
    )

    for username in ("nurse.kim", "dr.okafor", "maria.lopez"):  # the example study's team
        add_user(session, username)
    assert "Alerts reach nobody" not in client.get("/console/participants").text


def test_the_queue_groups_by_participant_and_acknowledges_the_selected_items(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    from bot.db.models import EscalationLevel

    calm, worried = add_participant(session, "P-301"), add_participant(session, "P-302")
    routine = add_escalation(session, calm, EscalationLevel.ROUTINE, reason="grade 2")
    urgent = add_escalation(session, worried, EscalationLevel.URGENT)
    emergency = add_escalation(session, worried, EscalationLevel.EMERGENCY)
    signed_in(client, "joy")

    page = client.get("/console/queue").text
    assert page.index("P-302: 2 items, 2 open") < page.index("P-301: 1 item, 1 open")
    assert page.index(f'value="{emergency.id}"') < page.index(f'value="{urgent.id}"')
    assert ">Acknowledge selected<" in page
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]

    reply = client.post(
        "/console/escalations/acknowledge",
        data={"csrf_token": token, "ids": [str(urgent.id), str(emergency.id)]},
    )

    assert reply.status_code == 303 and reply.headers["location"] == "/console/queue"
    assert "Acknowledged 2 items." in client.get("/console/queue").text
    statuses = {e.id: reload(session, e).status for e in (routine, urgent, emergency)}
    assert statuses == {
        routine.id: EscalationStatus.OPEN,
        urgent.id: EscalationStatus.ACKNOWLEDGED,
        emergency.id: EscalationStatus.ACKNOWLEDGED,
    }
    events = audit_events(session, "escalation.acknowledge")
    assert sorted(e.escalation_id for e in events) == sorted([urgent.id, emergency.id])


def test_a_researcher_gets_no_checkboxes_and_cannot_acknowledge_in_bulk(
    client: TestClient, session: Session, people: dict[str, StaffUser], escalation: Escalation
) -> None:
    signed_in(client, "rita")
    page = client.get("/console/queue").text
    assert "Acknowledge selected" not in page and 'name="ids"' not in page
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]

    reply = client.post(
        "/console/escalations/acknowledge", data={"csrf_token": token, "ids": [escalation.id]}
    )

    assert reply.status_code == 403
    assert reload(session, escalation).status is EscalationStatus.OPEN


def test_a_repeated_concern_is_one_item_that_says_it_came_up_again(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    from bot.db.models import EscalationLevel, EscalationType
    from bot.escalation.records import raise_escalation

    participant = add_participant(session, "P-303")
    for reason in ("said they want to leave the study", "asked for a call about leaving"):
        raise_escalation(
            session=session,
            participant_id=participant.id,
            level=EscalationLevel.ROUTINE,
            type=EscalationType.WITHDRAWAL,
            reason=reason,
        )
    session.commit()
    signed_in(client, "joy")

    page = client.get("/console/queue").text
    assert "P-303: 1 item, 1 open" in page
    assert "came up 1 more time, last " in page
    [entry] = client.get("/console/api/queue").json()["escalations"]
    assert entry["repeat_count"] == 1


def test_when_the_recipients_cannot_be_checked_the_page_still_opens_and_says_so(
    client: TestClient,
    session: Session,
    people: dict[str, StaffUser],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy.exc import OperationalError

    import bot.web.console.templating as templating

    signed_in(client, "joy")

    def broken(**_: object) -> list[str]:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(templating, "alert_coverage_problems", broken)
    page = client.get("/console/participants")

    assert page.status_code == 200
    assert "alert recipients could not be checked (database error" in page.text
