"""Accounts in the console: one-time passwords, changing and resetting them, deactivating
users, each user's time zone (bot/web/console/accounts.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import StaffRole, StaffUser
from tests.staff.factories import PASSWORD, add_user
from tests.web.test_console import audit_events, csrf_of, sign_in, signed_in

ONE_TIME = re.compile(r'<code class="one-time">([^<]+)</code>')
NEW_PASSWORD = "my own long passphrase"


@pytest.fixture
def other(database_url: str) -> Iterator[TestClient]:
    """A second browser."""
    from bot.web.app import app

    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def people(session: Session) -> dict[str, StaffUser]:
    """An admin and a nurse."""
    return {
        "admin": add_user(session, "ada", StaffRole.ADMIN, display_name="Ada Admin"),
        "staff": add_user(session, "joy", StaffRole.STAFF, display_name="Nurse Joy"),
    }


def _stored(session: Session, username: str) -> StaffUser:
    session.expire_all()
    return session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one()


def _add(client: TestClient, username: str, role: str = "staff") -> str:
    """Add a user as the signed-in admin; the one-time password shown."""
    token = csrf_of(client, "/console/users")
    page = client.post(
        "/console/users",
        data={"csrf_token": token, "username": username, "display_name": "Sam Lee", "role": role},
    )
    assert page.status_code == 201, page.text
    match = ONE_TIME.search(page.text)
    assert match
    return match.group(1)


def _change(
    client: TestClient, current: str, new: str = NEW_PASSWORD, *, next_page: str = ""
) -> object:
    token = csrf_of(client, "/console/password")
    return client.post(
        "/console/password",
        data={
            "csrf_token": token,
            "current": current,
            "new": new,
            "again": new,
            "next": next_page,
        },
    )


def test_an_admin_adds_a_user_with_a_one_time_password_shown_once(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    signed_in(client, "ada")

    password = _add(client, "sam", "researcher")
    listed = client.get("/console/users")
    token = csrf_of(client, "/console/users")
    taken = client.post(
        "/console/users",
        data={"csrf_token": token, "username": "sam", "display_name": "S", "role": "staff"},
    )

    sam = _stored(session, "sam")
    assert sam.role is StaffRole.RESEARCHER and sam.must_change_password
    assert password not in listed.text and "(one-time password)" in listed.text
    assert taken.status_code == 400 and "is taken" in taken.text
    [event] = audit_events(session, "user.create")[-1:]
    assert (event.actor, event.detail) == ("ada", "created researcher user sam; one-time password")


def test_a_one_time_password_leads_only_to_the_password_page(
    client: TestClient, other: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    signed_in(client, "ada")
    password = _add(client, "sam")

    token = csrf_of(other, "/console/sign-in")
    signed = other.post(
        "/console/sign-in",
        data={
            "username": "sam",
            "password": password,
            "csrf_token": token,
            "next": "/console/participants",
        },
    )
    pages = [other.get(path) for path in ("/console/queue", "/console/participants")]
    api = other.get("/console/api/queue")
    form = other.get(pages[1].headers["location"])
    wrong = _change(other, "not it", next_page="/console/participants")
    changed = _change(other, password, next_page="/console/participants")

    assert signed.headers["location"] == "/console/participants"
    assert [page.headers["location"] for page in pages] == [
        "/console/password?next=%2Fconsole%2Fqueue",
        "/console/password?next=%2Fconsole%2Fparticipants",
    ]
    assert api.status_code == 403 and api.json() == {"error": "change your one-time password first"}
    assert form.status_code == 200 and "Choose your own password" in form.text
    assert 'href="/console/queue"' not in form.text  # no way round it
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    assert changed.status_code == 303 and changed.headers["location"] == "/console/participants"
    assert other.get("/console/participants").status_code == 200
    assert not _stored(session, "sam").must_change_password
    assert [e.actor for e in audit_events(session, "auth.password_change")] == ["sam"]


def test_changing_your_password_keeps_this_session_and_ends_the_others(
    client: TestClient, other: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    signed_in(client, "joy")
    signed_in(other, "joy")

    refused = _change(client, PASSWORD, "joy is my name ok")
    changed = _change(client, PASSWORD)

    assert refused.status_code == 400 and "must not contain the username" in refused.text
    assert changed.status_code == 303 and changed.headers["location"] == "/console/queue"
    assert client.get("/console/queue").status_code == 200
    assert other.get("/console/queue").status_code == 303
    assert sign_in(other, "joy", NEW_PASSWORD).status_code == 303


def test_an_admin_reset_shows_a_new_one_time_password_and_ends_the_users_sessions(
    client: TestClient, other: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    signed_in(other, "joy")
    signed_in(client, "ada")
    token = csrf_of(client, "/console/users")

    page = client.post(
        f"/console/users/{people['staff'].id}/reset-password",
        data={"csrf_token": token, "reason": "locked out"},
    )
    match = ONE_TIME.search(page.text)

    assert page.status_code == 200 and match
    assert other.get("/console/queue").status_code == 303
    assert sign_in(other, "joy").status_code == 401
    assert sign_in(other, "joy", match.group(1)).status_code == 303
    assert other.get("/console/queue").headers["location"].startswith("/console/password")
    [event] = audit_events(session, "user.password_reset")
    assert (event.actor, event.detail) == (
        "ada",
        "one-time password set for joy; reason: locked out",
    )


def test_a_deactivated_user_is_signed_out_and_cannot_sign_in_until_reactivated(
    client: TestClient, other: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    signed_in(other, "joy")
    signed_in(client, "ada")
    token = csrf_of(client, "/console/users")
    joy = people["staff"].id

    off = client.post(
        f"/console/users/{joy}/deactivate", data={"csrf_token": token, "reason": "left the team"}
    )
    listed = client.get("/console/users").text
    ended = other.get("/console/queue")
    refused = sign_in(other, "joy")
    client.post(f"/console/users/{joy}/reactivate", data={"csrf_token": token})

    assert off.status_code == 303
    assert ended.status_code == 303 and refused.status_code == 401
    assert 'class="inactive"' in listed and "Reactivate" in listed
    assert sign_in(other, "joy").status_code == 303
    assert _stored(session, "joy").active
    details = [e.detail for e in audit_events(session) if e.action.startswith("user.")]
    assert details[-2:] == [
        "user joy; active: yes -> no; reason: left the team",
        "user joy; active: no -> yes",
    ]


def test_an_admin_cannot_deactivate_themselves(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    signed_in(client, "ada")
    token = csrf_of(client, "/console/users")

    reply = client.post(
        f"/console/users/{people['admin'].id}/deactivate", data={"csrf_token": token}
    )

    assert reply.status_code == 400 and "cannot deactivate yourself" in reply.text
    assert _stored(session, "ada").active


def test_only_admins_manage_users(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    signed_in(client, "joy")
    token = csrf_of(client, "/console/queue")

    page = client.get("/console/users")
    reset = client.post(
        f"/console/users/{people['admin'].id}/reset-password", data={"csrf_token": token}
    )

    assert page.status_code == reset.status_code == 403
    assert "Your role (staff) cannot do this." in page.text
    assert 'href="/console/queue"' in page.text
    assert 'href="/console/users"' not in client.get("/console/queue").text


def test_each_user_chooses_their_time_zone(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    signed_in(client, "joy")
    token = csrf_of(client, "/console/account")

    saved = client.post(
        "/console/account/timezone", data={"csrf_token": token, "timezone": "Europe/Madrid"}
    )
    wrong = client.post(
        "/console/account/timezone", data={"csrf_token": token, "timezone": "Mars/Base"}
    )

    assert saved.status_code == 303
    assert wrong.status_code == 400 and "not a time zone" in wrong.text
    assert _stored(session, "joy").timezone == "Europe/Madrid"
    assert "America/Chicago" in client.get("/console/account").text  # the site's, as default
