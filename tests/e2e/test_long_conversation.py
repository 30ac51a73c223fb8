"""A conversation longer than the tracker store's window, through the real assistant.

The Rasa server reads a conversation as a stored prefix plus its last turns
(bot.db.tracker_store). Here the window is 2 turns, so the tracker is cut every few
turns, in the middle of a check-in too: the replies must be the check-in's replies, and
the form must keep going across every cut.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bot.db.session import session_scope
from bot.study.config import load_study_config
from bot.study.wording import messages
from tests.conftest import EXAMPLE_STUDY
from tests.e2e.conftest import Stack, stack_started

pytestmark = pytest.mark.slow
STUDY = load_study_config(EXAMPLE_STUDY)


@pytest.fixture(scope="module")
def short_window(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The assistant with a tracker window of 2 turns (cut again after 4)."""
    with stack_started(tmp_path_factory, "short-window", tracker_window_turns=2) as started:
        yield started


def window(stack: Stack, sender: str) -> tuple[int, int]:
    """The conversation's stored window: events before its first one, and prefix length."""
    with session_scope(stack.settings.database_url) as session:
        row = session.execute(
            text("SELECT first_event_id, prefix FROM tracker_windows WHERE sender_id = :s"),
            {"s": sender},
        ).one()
        before = session.execute(
            text("SELECT COUNT(*) FROM events WHERE sender_id = :s AND id < :i"),
            {"s": sender, "i": row.first_event_id},
        ).scalar_one()
    return int(before), len(json.loads(row.prefix))


def test_a_checkin_keeps_going_across_the_window_s_cuts(short_window: Stack) -> None:
    stack, sender = short_window, f"web-{secrets.token_hex(8)}"
    for question, topic in [
        ("what's a placebo", "placebo"),
        ("do i get paid", "compensation"),
        ("who do i call", "contact"),
        ("what's a placebo", "placebo"),
        ("do i get paid", "compensation"),
    ]:
        assert stack.texts(sender, question) == STUDY.faq_answer(topic)
    cut_before_checkin = window(stack, sender)
    assert cut_before_checkin[0] > 0  # the window no longer starts at the session start
    assert "about a minute" in " ".join(stack.texts(sender, "i want to do my check in"))
    feeling = stack.chat(sender, "4")  # "good": the next question has yes/no buttons
    assert [b["title"] for b in feeling[-1]["buttons"]] == ["Yes", "No"]
    inside = stack.texts(sender, "what's a placebo")  # a question in the middle
    assert inside[: len(STUDY.faq_answer("placebo"))] == STUDY.faq_answer("placebo")
    assert stack.texts(sender, "no") == messages(STUDY, "ask_checkin_medicine")
    stack.texts(sender, "yes")
    cut_inside_checkin = window(stack, sender)
    assert cut_inside_checkin[0] > cut_before_checkin[0]  # cut again, inside the form
    done = stack.texts(sender, "no")
    assert done[-1].startswith("Thank you! Your check-in is done.")
    # After it, the conversation answers as usual.
    assert stack.texts(sender, "who do i call") == STUDY.faq_answer("contact")
