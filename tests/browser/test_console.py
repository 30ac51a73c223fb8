"""The staff console in a real browser (Chromium through Playwright), as a nurse uses it.

Sign in with a one-time password and choose one's own; a new emergency reaching the open
queue without a reload, with a browser notification; the escalation page showing the
message that raised it; take over, write, hand back; the queue on a phone (390 px) and a
desktop (1280 px) with no sideways scrolling; screenshots for a person to look at.

The live queue listens at GET /console/api/queue/events (server-sent events); each queue
item carries `data-escalation-id` inside the element with id `queue`. The escalation page
shows the triggering message in an element with id or class `trigger`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Response, ViewportSize, expect
from sqlalchemy import select

from bot import cli
from bot.core.settings import PROJECT_ROOT
from bot.db.models import (
    Channel,
    Direction,
    Escalation,
    EscalationLevel,
    EscalationType,
    Participant,
    StaffUser,
)
from bot.db.repository import log_message
from bot.db.session import session_scope
from bot.safety.emergency import reason_for
from tests.alerts.support import (
    PARTICIPANT_PHONE,
    PASSWORD,
    enroll_sms,
    messages_to,
    raise_for,
    sms_texts,
)
from tests.handoff.rasa_conversations import RasaConversationsStandIn
from tests.stand_ins.twilio_api import TwilioApiStandIn

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

LIVE_TIMEOUT_MS = 5_000  # a new emergency reaches an open queue within seconds
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
SCREENSHOTS = PROJECT_ROOT / "build" / "screenshots"
CHEST_PAIN = "crushing pain in my chest, it goes down my left arm and I cant breathe"
NEW_PASSWORD = "a kettle of hawks over the river"


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Fill in the sign-in form and send it."""
    page.goto("/console/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def emergency(participant: Participant, words: str = CHEST_PAIN) -> Escalation:
    """The emergency escalation the assistant raises for a red flag in these words."""
    return raise_for(
        participant,
        EscalationLevel.EMERGENCY,
        type=EscalationType.EMERGENCY,
        reason=reason_for(["chest_pain", "breathing"]),
        words=words,
    )


def queue_item(page: Page, escalation_id: int) -> Locator:
    """The queue's item for this escalation."""
    return page.locator("#queue").locator(f'[data-escalation-id="{escalation_id}"]')


def is_queue_events(response: Response) -> bool:
    """True for the queue's event stream."""
    return response.url.split("?")[0].endswith("/console/api/queue/events")


def busy_queue() -> list[Escalation]:
    """Several participants with long study IDs and long reasons, most severe first."""
    raised = []
    for number in range(4):
        participant = enroll_sms(
            f"SITE-0042-COHORT-B-PARTICIPANT-{number:012d}", f"+1555555{number:04d}"
        )
        raised.append(emergency(participant, words=CHEST_PAIN + " and my face droops"))
        raised.append(
            raise_for(
                participant,
                reason="severe nausea (grade 3), worse by 2 points since the last report; "
                "vomiting several times a day, cannot keep fluids or the study drug down",
            )
        )
    return raised


def test_a_nurse_signs_in_with_a_one_time_password_and_chooses_her_own(
    page: Page, capsys: pytest.CaptureFixture[str]
) -> None:
    # The admin makes her account as the README says; the one-time password is printed.
    made = cli.main(["create-user", "--role", "staff", "--username", "nina", "--name", "Nina"])
    assert made == 0
    one_time = capsys.readouterr().out.splitlines()[-1].rsplit(" ", 1)[-1]

    sign_in(page, "nina", one_time)
    expect(page.get_by_role("heading", name="Choose your own password")).to_be_visible()
    page.get_by_label("One-time password").fill(one_time)
    page.get_by_label("New password (at least").fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()

    expect(page).to_have_url(re.compile(r"/console/queue$"))
    expect(page.locator(".flash")).to_have_text("Your password is changed.")
    expect(page.get_by_role("heading", name="Escalation queue")).to_be_visible()
    with session_scope() as session:
        nina = session.execute(select(StaffUser).where(StaffUser.username == "nina")).scalar_one()
        assert nina.must_change_password is False
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "nina", NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/console/queue$"))


def test_a_new_emergency_appears_in_the_open_queue_with_a_notification(page: Page) -> None:
    # The queue opens its event stream, GET /console/api/queue/events, when shown.
    with page.expect_response(is_queue_events, timeout=LIVE_TIMEOUT_MS):
        sign_in(page, "joy")
    expect(page).to_have_url(re.compile(r"/console/queue$"))
    page.evaluate("window.__sameDocument = true")
    switch = page.get_by_role("button", name=re.compile(r"alert|sound|notif", re.IGNORECASE))
    if switch.count():
        switch.first.click()

    raised = emergency(enroll_sms())

    expect(queue_item(page, raised.id)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(queue_item(page, raised.id)).to_contain_text("P-001")
    assert page.evaluate("window.__sameDocument") is True, "the queue page was reloaded"
    page.wait_for_function("window.__notifications.length > 0", timeout=LIVE_TIMEOUT_MS)
    [notification] = page.evaluate("window.__notifications")
    shown = notification["title"] + " " + notification["body"]
    # A lock screen may show it: the study ID, never the words or the reason (safety rule 5).
    assert "P-001" in shown
    assert "chest" not in shown.lower() and "breath" not in shown.lower()


def test_the_escalation_page_shows_the_message_that_raised_it(page: Page) -> None:
    participant = enroll_sms()
    raised = emergency(participant)
    with session_scope() as session:  # the conversation went on well past the emergency
        for number in range(30):
            log_message(
                session=session,
                sender_id=participant.sender_id,
                channel=Channel.SMS,
                direction=Direction.INBOUND if number % 2 else Direction.OUTBOUND,
                text=f"message {number} after the emergency",
                participant_id=participant.id,
            )

    sign_in(page, "joy")
    page.goto(f"/console/escalations/{raised.id}")

    expect(page.locator("#trigger, .trigger").first).to_contain_text(CHEST_PAIN)


def test_take_over_write_and_hand_back(
    page: Page, rasa_api: RasaConversationsStandIn, twilio_api: TwilioApiStandIn
) -> None:
    participant = enroll_sms()
    raised = emergency(participant)
    sign_in(page, "joy")
    page.goto(f"/console/escalations/{raised.id}")

    page.get_by_role("button", name="Take over the chat").click()
    expect(page).to_have_url(re.compile(r"/console/handoffs/\d+$"))
    expect(page.locator("#handoff-state")).to_contain_text("Nurse Joy has this chat")
    assert rasa_api.is_paused(participant.sender_id)

    composer = page.get_by_label("Your message to P-001")
    composer.fill("Hi, this is Joy from the study. Are you safe right now?")
    page.get_by_role("button", name="Send").click()
    expect(composer).to_have_value("")
    expect(page.locator("#live-conversation")).to_contain_text(
        "Hi, this is Joy from the study. Are you safe right now?"
    )
    last = messages_to(participant.sender_id)[-1]
    assert (last.text, last.sent_by) == (
        "Hi, this is Joy from the study. Are you safe right now?",
        "joy",
    )
    assert sms_texts(twilio_api, PARTICIPANT_PHONE)[-1] == last.text

    page.get_by_role("button", name="Hand back to the assistant").click()
    expect(page).to_have_url(re.compile(rf"/console/escalations/{raised.id}$"))
    expect(page.get_by_role("button", name="Take over the chat")).to_be_visible()
    assert not rasa_api.is_paused(participant.sender_id)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_the_queue_and_an_escalation_never_scroll_sideways(
    page: Page, viewport: ViewportSize
) -> None:
    first = busy_queue()[0]
    page.set_viewport_size(viewport)
    sign_in(page, "joy")
    expect(page).to_have_url(re.compile(r"/console/queue$"))

    for path in ("/console/queue", f"/console/escalations/{first.id}"):
        page.goto(path)
        wide, window = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert wide <= window, f"{path} is {wide} px wide in a {window} px window"


def test_screenshots_of_the_queue_and_an_escalation(page: Page, figures: dict[str, str]) -> None:
    first = busy_queue()[0]
    sign_in(page, "joy")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    taken = []
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        for name, path in (
            ("queue", "/console/queue"),
            ("escalation", f"/console/escalations/{first.id}"),
        ):
            page.goto(path)
            shot = SCREENSHOTS / f"{name}-{viewport['width']}.png"
            page.screenshot(path=shot, full_page=True)
            taken.append(str(shot))

    assert all(Path(shot).stat().st_size > 0 for shot in taken)
    figures["console screenshots"] = ", ".join(taken)
