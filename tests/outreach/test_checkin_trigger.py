"""A check-in started by the schedule opens with the check-in prompt (bot/actions/checkin.py),
and the opening the outreach worker sends itself is what the actions say."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.checkin import ActionAskCheckinFeeling, ActionStartCheckin
from bot.core.languages import LANGUAGE_SLOT
from bot.outreach import deferred
from bot.study.config import current_study
from bot.study.wording import messages

pytestmark = pytest.mark.usefixtures("database_url")


def tracker(entities: list[dict[str, Any]]) -> Tracker:
    """What Rasa sends after trigger_intent (or a typed "check in")."""
    return Tracker(
        sender_id="P-001",
        slots={},
        latest_message={"text": "", "intent": {"name": "start_checkin"}, "entities": entities},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


async def said(entities: list[dict[str, Any]]) -> list[str]:
    dispatcher = CollectingDispatcher()
    await ActionStartCheckin().run(dispatcher, tracker(entities), {})
    return [message["text"] for message in dispatcher.messages]


async def test_a_scheduled_checkin_opens_with_the_prompt() -> None:
    scheduled = [{"entity": "trigger", "value": "schedule"}]
    assert await said(scheduled) == messages(current_study(), "checkin_prompt")


async def test_a_checkin_the_participant_asked_for_opens_as_before() -> None:
    assert await said([]) == messages(current_study(), "checkin_start")
    other = [{"entity": "trigger", "value": "something else"}]
    assert await said(other) == messages(current_study(), "checkin_start")


@pytest.mark.parametrize("language", ["en", "es"])
async def test_the_opening_the_worker_sends_is_what_the_actions_say(language: str) -> None:
    """bot.outreach.deferred.scheduled_opening against the two actions Rasa runs for a
    scheduled check-in in an idle conversation (the e2e tests check Rasa's own turn)."""
    scheduled = [{"entity": "trigger", "value": "schedule"}]
    dispatcher = CollectingDispatcher()
    with_language = tracker(scheduled)
    with_language.slots[LANGUAGE_SLOT] = language
    await ActionStartCheckin().run(dispatcher, with_language, {})
    await ActionAskCheckinFeeling().run(dispatcher, with_language, {})

    opening = deferred.scheduled_opening(current_study(), language)
    assert deferred.same_messages(opening, dispatcher.messages)
    assert opening[-1]["buttons"]  # the answer buttons came along
    assert not deferred.same_messages(opening[:1], dispatcher.messages)
