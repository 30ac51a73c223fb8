"""The demo's messages get the real model's predictions in Rasa's tracker store, so the
researcher pages have low-confidence messages to label (issue: researchers' review)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.clients.rasa_http import RasaHttpApi
from bot.db.models import Direction, MessageLog
from bot.db.session import session_scope
from bot.demo.conversations import replay_demo_conversations
from bot.demo.simulation import EVENT_MESSAGES, UNCLEAR_MESSAGES, UNCLEAR_MESSAGES_ES, seed
from bot.research.conversations import ConversationFilters, list_conversations
from bot.research.nlu_review import review_queue
from bot.study.config import current_study
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.slow


async def test_demo_messages_are_read_by_the_model_once(stack: Stack) -> None:
    url = stack.settings.database_url
    rasa = RasaHttpApi(stack.rasa_url, "e2e-token")
    with session_scope(url) as session:
        seed(session=session, study=current_study())
    with session_scope(url) as session:
        sent = session.execute(
            select(func.count(MessageLog.id)).where(
                MessageLog.direction == Direction.INBOUND, MessageLog.sender_id.like("DEMO-%")
            )
        ).scalar_one()
        written = await replay_demo_conversations(session=session, rasa=rasa)
    assert written == sent > 1000

    with session_scope(url) as session:
        queue = review_queue(session=session, limit=500)
        again = await replay_demo_conversations(session=session, rasa=rasa)
        # The stack is shared with other end-to-end tests' web chats: read every row.
        everyone = list_conversations(session=session, filters=ConversationFilters(), limit=10_000)
        unsure = list_conversations(
            session=session, filters=ConversationFilters(low_confidence=True), limit=10_000
        )
    assert again == 0
    queued = {item.text for item in queue if item.sender_id.startswith("DEMO-")}
    # The model is unsure of most of what it never learned; it is sure of a red flag.
    # The model is unsure of some of what the assistant was not built for, in both
    # languages (the one model that reads both is surer, wrongly, of more than it was).
    assert len(queued & {*UNCLEAR_MESSAGES, *UNCLEAR_MESSAGES_ES}) >= 2, queued
    assert EVENT_MESSAGES["emergency"] not in queued
    assert all(item.confidence is not None for item in queue)
    assert {row.study_id for row in everyone} >= {f"DEMO-{n:03d}" for n in range(1, 13)}
    assert len({row.study_id for row in unsure if row.study_id}) >= 3
