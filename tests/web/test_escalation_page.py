"""The escalation page: the message that raised it in its conversation, the participant's
context, how to reach them (the phone number only on request, audited) and their earlier
escalations (bot/web/console/routes.py, bot/escalation/context.py), on SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bot.core.crypto import address_digest, encrypt
from bot.db.models import (
    Channel,
    Checkin,
    CheckinStatus,
    Direction,
    Escalation,
    EscalationLevel,
    EscalationStatus,
    EscalationType,
    MessageLog,
    Participant,
    StaffRole,
    StaffUser,
)
from bot.db.repository import ensure_web_participant, log_message
from bot.db.types import utcnow
from bot.handoff.repository import start_handoff
from tests.staff.factories import add_escalation, add_participant, add_user
from tests.web.test_console import CSRF, PHONE, audit_events, csrf_of, signed_in

START = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)
TRIGGER_LI = re.compile(r'<li class="inbound trigger" id="trigger" data-trigger="1">\s*<strong')


@pytest.fixture
def people(session: Session) -> dict[str, StaffUser]:
    """A nurse and a researcher."""
    return {
        "staff": add_user(session, "joy", StaffRole.STAFF, display_name="Nurse Joy"),
        "researcher": add_user(session, "rita", StaffRole.RESEARCHER, display_name="Dr Rita"),
    }


@pytest.fixture
def participant(session: Session) -> Participant:
    """P-100, an SMS participant with a phone number."""
    participant = add_participant(session, "P-100")
    participant.address_encrypted = encrypt(PHONE)
    participant.address_hash = address_digest("sms", PHONE)
    session.commit()
    return participant


def say(
    session: Session,
    participant: Participant,
    minute: int,
    direction: Direction = Direction.INBOUND,
) -> MessageLog:
    """A message "message <minute>" logged `minute` minutes after START (committed)."""
    entry = log_message(
        session=session,
        sender_id=participant.sender_id,
        participant_id=participant.id,
        channel=participant.channel,
        direction=direction,
        text=f"message {minute:02d}",
    )
    entry.created_at = START + timedelta(minutes=minute)
    session.commit()
    return entry


def conversation(session: Session, participant: Participant, minutes: range) -> dict[int, int]:
    """Messages at each minute, in and out by turns; their IDs by minute."""
    return {
        minute: say(
            session, participant, minute, Direction.INBOUND if minute % 2 else Direction.OUTBOUND
        ).id
        for minute in minutes
    }


def raised(
    session: Session, participant: Participant, minute: float, **kwargs: object
) -> Escalation:
    """An escalation raised `minute` minutes after START."""
    return add_escalation(
        session, participant, created_at=START + timedelta(minutes=minute), **kwargs
    )


def shown(page: str) -> list[int]:
    """The minutes of the messages on the page, in page order."""
    return [int(minute) for minute in re.findall(r"message (\d\d)", page)]


def section(page: str, heading_id: str) -> str:
    """One section of the page, from its heading to its end."""
    start = page.index(f'id="{heading_id}"')
    return page[start : page.index("</section>", start)]


# --- the conversation around the alert ----------------------------------------------------


def test_the_message_that_raised_it_is_shown_and_marked_even_with_30_newer_ones(
    client: TestClient, session: Session, people: dict[str, StaffUser], participant: Participant
) -> None:
    ids = conversation(session, participant, range(11))  # minute 9 is the participant's
    conversation(session, participant, range(11, 46))
    alert = raised(
        session,
        participant,
        9.5,
        level=EscalationLevel.EMERGENCY,
        type=EscalationType.EMERGENCY,
        reason="red flag: chest pain",
        message_log_id=ids[9],
    )
    signed_in(client, "joy")

    page = client.get(f"/console/escalations/{alert.id}").text

    assert shown(page) == list(range(1, 18))  # 8 before, the trigger, 8 after, in order
    assert page.count('data-trigger="1"') == 1 and page.count('id="trigger"') == 1
    marked = TRIGGER_LI.search(page)
    assert marked is not None
    item = page[marked.start() : page.index("</li>", marked.start())]
    assert "Raised this alert" in item and "message 09" in item
    assert 'href="#trigger">the message that raised it</a>' in page
    [view] = audit_events(session, "escalation.view")
    assert view.detail == "17 messages around the alert shown"


def test_an_alert_that_names_no_message_shows_the_conversation_around_its_time(
    client: TestClient, session: Session, people: dict[str, StaffUser], participant: Participant
) -> None:
    conversation(session, participant, range(30))
    alert = raised(session, participant, 20.5)
    signed_in(client, "joy")

    page = client.get(f"/console/escalations/{alert.id}").text

    assert shown(page) == list(range(13, 29))  # 8 up to its time, 8 after
    marked = TRIGGER_LI.search(page)
    assert marked is not None
    item = page[marked.start() : page.index("</li>", marked.start())]
    assert "Last message before this alert" in item and "message 19" in item
    assert "This alert names no message" in page


def test_times_are_in_the_viewers_zone_and_the_page_has_no_inline_script_or_style(
    client: TestClient, session: Session, people: dict[str, StaffUser], participant: Participant
) -> None:
    people["staff"].timezone = "Asia/Tokyo"
    session.commit()
    ids = conversation(session, participant, range(3))
    alert = raised(session, participant, 1.5, message_log_id=ids[1])
    signed_in(client, "joy")

    page = client.get(f"/console/escalations/{alert.id}").text

    # 15:01 UTC is 00:01 the next day in Tokyo; the exact time shows on hover.
    assert 'title="2026-03-03 00:01 JST">3 Mar 00:01</time>' in page
    assert " UTC" not in page.split("<main>")[1]
    # Scripts come from files (the live status, static/queue.js), never inline.
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/queue.js">']
    assert " style=" not in page


# --- the participant's context ------------------------------------------------------------


def test_the_context_panel_says_who_when_where_and_what_else_is_open(
    client: TestClient, session: Session, people: dict[str, StaffUser], participant: Participant
) -> None:
    participant.language = "es"
    session.add(
        Checkin(
            participant_id=participant.id,
            status=CheckinStatus.COMPLETED,
            started_at=utcnow() - timedelta(minutes=9),
            completed_at=utcnow() - timedelta(minutes=5),
        )
    )
    session.commit()
    alert = raised(session, participant, 0)
    other = add_escalation(session, participant, EscalationLevel.ROUTINE, reason="mild cough")
    closed = add_escalation(session, participant, status=EscalationStatus.RESOLVED)
    signed_in(client, "joy")

    before = datetime.now(ZoneInfo("America/Chicago"))
    page = client.get(f"/console/escalations/{alert.id}").text
    after = datetime.now(ZoneInfo("America/Chicago"))

    panel = section(page, "participant-heading")
    assert "<dt>Study ID</dt>\n    <dd>P-100" in panel
    assert "<dt>Language</dt><dd>Spanish</dd>" in panel
    assert "<dt>Channel</dt><dd>sms</dd>" in panel
    assert "America/Chicago<br>their time now: " in panel
    assert any(f"their time now: {moment:%H:%M, %a}" in panel for moment in (before, after))
    assert "5 min ago</time> (completed)" in panel
    items = panel[panel.index("<dt>Open items</dt>") :]
    assert f'href="/console/escalations/{other.id}"' in items and "routine" in items
    assert f"/console/escalations/{closed.id}" not in items  # resolved: not open
    assert f"/console/escalations/{alert.id}" not in items  # this one


def test_a_participant_with_nothing_else_open_and_no_check_in_says_so(
    client: TestClient, session: Session, people: dict[str, StaffUser], participant: Participant
) -> None:
    alert = raised(session, participant, 0)
    signed_in(client, "rita")

    panel = section(client.get(f"/console/escalations/{alert.id}").text, "participant-heading")

    assert "none yet" in panel and "none besides this one" in panel


# --- reaching them ------------------------------------------------------------------------


def test_the_phone_shows_only_when_asked_and_asking_is_audited(
    client: TestClient, session: Session, people: dict[str, StaffUser], participant: Participant
) -> None:
    alert = raised(session, participant, 0)
    signed_in(client, "joy")
    path = f"/console/escalations/{alert.id}"

    page = client.get(path).text
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    shown_page = client.post(f"{path}/phone", data={"csrf_token": token})

    assert PHONE not in page and "5550123" not in page
    assert f'action="{path}/phone#contact"' in page and ">Show phone number<" in page
    assert shown_page.status_code == 200
    assert f'<a class="phone" href="tel:{PHONE}">{PHONE}</a>' in shown_page.text
    assert ">Show phone number<" not in shown_page.text
    [event] = audit_events(session, "participant.phone_reveal")
    assert (event.actor, event.participant_id, event.escalation_id) == (
        "joy",
        participant.id,
        alert.id,
    )
    assert event.detail == "phone number shown" and "5550123" not in event.detail
    assert PHONE not in client.get(path).text  # the next view hides it again


def test_showing_the_phone_needs_the_role_and_the_csrf_token(
    client: TestClient, session: Session, people: dict[str, StaffUser], participant: Participant
) -> None:
    alert = raised(session, participant, 0)
    path = f"/console/escalations/{alert.id}"
    signed_in(client, "joy")
    no_token = client.post(f"{path}/phone", data={})
    wrong_token = client.post(f"{path}/phone", data={"csrf_token": "not-the-token"})

    with TestClient(client.app, follow_redirects=False) as other:
        signed_in(other, "rita")
        page = other.get(path).text
        token = CSRF.search(page).group(1)  # type: ignore[union-attr]
        refused = other.post(f"{path}/phone", data={"csrf_token": token})

    assert [no_token.status_code, wrong_token.status_code, refused.status_code] == [403] * 3
    for reply in (no_token, wrong_token, refused):
        assert PHONE not in reply.text
    assert ">Show phone number<" not in page and "cannot see phone numbers" in page
    assert audit_events(session, "participant.phone_reveal") == []
    [denied] = audit_events(session, "auth.access_denied")
    assert denied.actor == "rita" and "view_contact" in denied.detail


def test_a_telegram_participant_is_reached_through_the_live_chat(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    participant = add_participant(session, "P-200", Channel.TELEGRAM)
    alert = raised(session, participant, 0)
    signed_in(client, "joy")
    path = f"/console/escalations/{alert.id}"

    before = section(client.get(path).text, "contact-heading")
    handoff_id = start_handoff(
        session=session,
        participant_id=participant.id,
        staff_user_id=people["staff"].id,
        escalation_id=alert.id,
        via="console",
        now=utcnow(),
    )
    session.commit()
    page = client.get(path).text

    assert "Telegram: there is no phone number" in before
    assert f'action="{path}/take-over"' in before and "Take over the chat" in before
    assert "Show phone number" not in before
    assert f'href="/console/handoffs/{handoff_id}">Open the live chat</a>' in section(
        page, "contact-heading"
    )
    open_items = section(page, "participant-heading")
    assert f'href="/console/handoffs/{handoff_id}">live chat with Nurse Joy</a>' in open_items


def test_a_web_chat_visitor_cannot_be_contacted_outside_the_chat(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    visitor = ensure_web_participant(session=session, sender_id="web-visitor-01")
    session.commit()
    alert = raised(session, visitor, 0)
    signed_in(client, "joy")

    contact = section(client.get(f"/console/escalations/{alert.id}").text, "contact-heading")

    assert "cannot be contacted outside the chat" in contact
    assert "Show phone number" not in contact


# --- earlier escalations, and a wrong address ----------------------------------------------


def test_earlier_escalations_are_listed_newest_first_with_links(
    client: TestClient, session: Session, people: dict[str, StaffUser], participant: Participant
) -> None:
    first = raised(session, participant, 0, reason="mild nausea", status=EscalationStatus.RESOLVED)
    second = raised(session, participant, 60, level=EscalationLevel.ROUTINE, reason="missed dose")
    alert = raised(session, participant, 120, reason="severe nausea")
    later = raised(session, participant, 180, reason="fever")
    signed_in(client, "joy")

    earlier = section(client.get(f"/console/escalations/{alert.id}").text, "earlier-heading")

    links = re.findall(r'href="/console/escalations/(\d+)"', earlier)
    assert links == [str(second.id), str(first.id)]
    assert f"/console/escalations/{later.id}" not in earlier
    assert 'title="2026-03-02 10:00 CST">2 Mar 10:00</time>' in earlier  # second, site's zone
    assert '<span class="badge routine">routine</span> symptom: missed dose' in earlier
    assert "mild nausea" in earlier and "(resolved)" in earlier and "(open)" in earlier


def test_a_wrong_id_is_the_friendly_not_found_page(
    client: TestClient, session: Session, people: dict[str, StaffUser]
) -> None:
    signed_in(client, "joy")
    token = csrf_of(client, "/console/queue")

    page = client.get("/console/escalations/999999")
    reveal = client.post("/console/escalations/999999/phone", data={"csrf_token": token})

    for reply in (page, reveal):
        assert reply.status_code == 404
        assert reply.headers["content-type"].startswith("text/html")
        assert "There is no such escalation." in reply.text
        assert "Go back</a>" in reply.text and 'href="/console/queue"' in reply.text
    assert audit_events(session, "participant.phone_reveal") == []
