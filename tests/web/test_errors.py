"""Error pages people can act on, and JSON only on the JSON routes (bot/web/console/errors.py),
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bot.db.models import Escalation, StaffRole, StaffUser
from bot.web.console import sessions
from tests.staff.factories import PASSWORD, add_escalation, add_participant, add_user
from tests.web.test_console import csrf_of, signed_in


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """A test client of the web app that answers faults as the server would."""
    from bot.web.app import app

    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def joy(session: Session) -> StaffUser:
    return add_user(session, "joy", StaffRole.STAFF, display_name="Nurse Joy")


@pytest.fixture
def escalation(session: Session) -> Escalation:
    return add_escalation(session, add_participant(session, "P-100"))


def test_a_wrong_console_address_is_a_page_with_a_way_back(
    client: TestClient, joy: StaffUser
) -> None:
    signed_in(client, "joy")

    page = client.get("/console/no-such-page")
    gone = client.get("/console/escalations/999999")

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text and 'href="/console/queue">Go back</a>' in page.text
    assert "Nurse Joy" in page.text  # the console's own header, signed in
    assert gone.status_code == 404 and "There is no such escalation." in gone.text


def test_a_bad_id_is_a_page_saying_what_is_wrong(client: TestClient, joy: StaffUser) -> None:
    signed_in(client, "joy")

    page = client.get("/console/escalations/abc")

    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "That address or form is not right" in page.text
    assert "escalation id" in page.text
    assert "abc" not in page.text.split("<main>")[1]


def test_a_wrong_address_outside_the_console_is_a_page_too(client: TestClient) -> None:
    page = client.get("/no-such-page")

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert '<a href="/">' in page.text


def test_json_routes_keep_json(client: TestClient, joy: StaffUser) -> None:
    signed_in(client, "joy")

    console_api = client.get("/console/api/handoffs/abc/messages")
    missing_api = client.get("/console/api/nothing-here")
    chat = client.post("/api/chat", json={"sender": "nope", "message": ""})

    assert console_api.status_code == 422 and "detail" in console_api.json()
    assert missing_api.status_code == 404 and missing_api.json() == {"detail": "Not Found"}
    assert chat.headers["content-type"].startswith("application/json")


def test_a_fault_is_a_page_that_says_so(
    client: TestClient, joy: StaffUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.web.console import routes

    def broken(**_: object) -> None:
        raise RuntimeError("the database fell over")

    signed_in(client, "joy")
    monkeypatch.setattr(routes, "list_participants", broken)

    page = client.get("/console/participants")

    assert page.status_code == 500
    assert "Something went wrong" in page.text and "fell over" not in page.text
    assert 'href="/console/queue"' in page.text


def test_after_the_session_expired_a_form_goes_to_sign_in_then_back_to_its_page(
    client: TestClient, joy: StaffUser, escalation: Escalation
) -> None:
    signed_in(client, "joy")
    token = csrf_of(client, f"/console/escalations/{escalation.id}")
    client.cookies.clear()  # the cookie expired (IDLE_TIMEOUT)

    posted = client.post(
        f"/console/escalations/{escalation.id}/acknowledge", data={"csrf_token": token}
    )
    target = posted.headers["location"]
    form = client.get(target)
    token = csrf_of(client, target)
    signed = client.post(
        "/console/sign-in",
        data={
            "username": "joy",
            "password": PASSWORD,
            "csrf_token": token,
            "next": f"/console/escalations/{escalation.id}",
        },
    )

    assert posted.status_code == 303
    assert target == f"/console/sign-in?next=%2Fconsole%2Fescalations%2F{escalation.id}"
    assert "Your session had ended, so nothing was changed." in form.text
    assert f'name="next" value="/console/escalations/{escalation.id}"' in form.text
    assert signed.headers["location"] == f"/console/escalations/{escalation.id}"
    assert sessions.COOKIE_NAME in client.cookies


def test_next_never_leaves_the_site(client: TestClient, joy: StaffUser) -> None:
    form = client.get("/console/sign-in?next=https://evil.example.com/console/queue")

    assert 'name="next" value="/console/queue"' in form.text


def test_the_way_back_is_the_nearest_page_above(client: TestClient, joy: StaffUser) -> None:
    signed_in(client, "joy")

    page = client.get("/console/participants/P-404/details")

    assert page.status_code == 404 and "There is no such participant." in page.text
    assert 'href="/console/participants">Go back</a>' in page.text
