"""The chat page against the real assistant (trained model, action server, database).

These are the "Done means" of the skeleton and check-in issues, checked end to end.
"""

from __future__ import annotations

import secrets

import httpx
import pytest
from sqlalchemy import select

from bot.db.models import (
    Direction,
    Escalation,
    EscalationLevel,
    EscalationType,
    MessageLog,
    SymptomReport,
)
from bot.db.session import session_scope
from bot.study.config import load_study_config
from bot.study.wording import messages
from tests.conftest import EXAMPLE_STUDY
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.slow
STUDY = load_study_config(EXAMPLE_STUDY)


def new_sender() -> str:
    return f"web-{secrets.token_hex(8)}"


def test_chat_page_is_served(stack: Stack) -> None:
    page = httpx.get(f"{stack.web_url}/", timeout=10)
    assert page.status_code == 200
    assert STUDY.study.name in page.text
    assert "/static/chat.js" in page.text


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("what's a placebo", "placebo"),
        ("do i get paid", "compensation"),
        ("who do i call", "contact"),
    ],
)
def test_questions_get_the_trials_own_answer(stack: Stack, question: str, topic: str) -> None:
    assert stack.texts(new_sender(), question) == STUDY.faq_answer(topic)


def test_huh_after_an_answer_gets_the_simpler_version(stack: Stack) -> None:
    sender = new_sender()
    stack.texts(sender, "what's a placebo")
    assert stack.texts(sender, "huh? i dont get it") == STUDY.faq_answer("placebo", simpler=True)


def test_every_message_is_logged_both_ways(stack: Stack) -> None:
    sender = new_sender()
    reply = stack.texts(sender, "who do i call")
    with session_scope(stack.settings.database_url) as session:
        rows = session.execute(
            select(MessageLog.direction, MessageLog.text)
            .where(MessageLog.sender_id == sender)
            .order_by(MessageLog.id)
        ).all()
    assert rows == [(Direction.INBOUND, "who do i call")] + [
        (Direction.OUTBOUND, text) for text in reply
    ]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"sender": "web-abcdefgh"}', b'{"sender": "P-001", "message": "hi"}'],
)
def test_malformed_chat_posts_get_a_4xx(stack: Stack, body: bytes) -> None:
    reply = httpx.post(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        content=body,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert reply.status_code == 400


def test_a_checkin_end_to_end(stack: Stack) -> None:
    sender = new_sender()
    assert "about a minute" in " ".join(stack.texts(sender, "i want to do my check in"))
    feeling = stack.chat(sender, "4")  # "good": the next question has yes/no buttons
    assert [b["title"] for b in feeling[-1]["buttons"]] == ["Yes", "No"]
    assert stack.texts(sender, "no") == messages(STUDY, "ask_checkin_medicine")
    stack.texts(sender, "yes")
    done = stack.texts(sender, "no")
    assert done[-1].startswith("Thank you! Your check-in is done.")


@pytest.mark.parametrize(
    "question",
    [
        "is it ok to take tylenol with the study pills",
        "should i skip my dose tomorrow because of the surgery",
        "is it safe to take ibuprofen with the study medicine?",
    ],
)
def test_a_medical_question_mid_checkin_goes_to_the_team_and_the_checkin_goes_on(
    stack: Stack, question: str
) -> None:
    """No advice, the question passed to the team, the same form question asked again, and
    the check-in carries on to the end (issue 14, point 4)."""
    sender = new_sender()
    stack.texts(sender, "i want to do my check in")
    stack.texts(sender, "4")  # asks: anything new?
    reply = stack.texts(sender, question)
    assert reply[0] == messages(STUDY, "medical_question_in_form")[0]
    assert reply[-1] == messages(STUDY, "ask_checkin_new_problem")[-1]
    with session_scope(stack.settings.database_url) as session:
        escalation = session.execute(
            select(Escalation).order_by(Escalation.id.desc()).limit(1)
        ).scalar_one()
        assert escalation.type is EscalationType.QUESTION
    assert stack.texts(sender, "no") == messages(STUDY, "ask_checkin_medicine")
    stack.texts(sender, "yes")
    assert stack.texts(sender, "no")[-1].startswith("Thank you! Your check-in is done.")


def test_two_symptoms_in_one_message_are_both_graded(stack: Stack) -> None:
    sender = new_sender()
    first = " ".join(stack.texts(sender, "i threw up 3 times and my head is killing me"))
    assert "throwing up" in first  # vomiting: frequency, then severity
    stack.texts(sender, "sometimes")
    stack.texts(sender, "severe")  # vomiting graded 3: urgent
    stack.texts(sender, "often")  # headache: frequency
    stack.texts(sender, "moderate")
    stack.texts(sender, "a little")
    with session_scope(stack.settings.database_url) as session:
        reports = session.execute(
            select(SymptomReport.symptom, SymptomReport.grade).order_by(SymptomReport.id)
        ).all()
    assert reports[-2:] == [("vomiting", 3), ("headache", 2)]


def test_negated_chest_pain_is_no_alarm(stack: Stack) -> None:
    said = " ".join(stack.texts(new_sender(), "no chest pain today"))
    assert f"Call {STUDY.emergency_number} now" not in said


def test_chest_pain_in_the_middle_of_a_checkin_is_an_emergency_at_once(stack: Stack) -> None:
    sender = new_sender()
    stack.texts(sender, "i want to do my check in")
    reply = stack.texts(sender, "crushing chest pain")
    assert reply[0].startswith(f"Call {STUDY.emergency_number} now")
    with session_scope(stack.settings.database_url) as session:
        escalation = session.execute(
            select(Escalation).order_by(Escalation.id.desc()).limit(1)
        ).scalar_one()
        assert (escalation.level, escalation.type) == (
            EscalationLevel.EMERGENCY,
            EscalationType.EMERGENCY,
        )
        assert escalation.reason == "red flag: chest pain"
    # The check-in stopped: the next message is not taken as an answer to it.
    assert "check-in" not in " ".join(stack.texts(sender, "hello"))
