"""Spanish on the real assistant (trained model, action server, web chat): the "Done means"
of the Spanish issue that the chat page can show. The SMS ones are in test_sms_checkin.py.
"""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select

from bot.db.models import Escalation, EscalationLevel, EscalationType, Participant
from bot.db.session import session_scope
from bot.study.config import load_study_config
from bot.study.wording import messages
from tests.conftest import EXAMPLE_STUDY
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.slow
STUDY = load_study_config(EXAMPLE_STUDY)


def new_sender() -> str:
    return f"web-{secrets.token_hex(8)}"


def spanish(key: str) -> list[str]:
    return messages(STUDY, key, language="es")


def participant_of(stack: Stack, sender: str) -> Participant:
    with session_scope(stack.settings.database_url) as session:
        participant = session.execute(
            select(Participant).where(Participant.sender_id == sender)
        ).scalar_one()
        session.expunge(participant)
        return participant


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("hola, q es un placebo", "placebo"),
        ("cuanto me van a pagar?", "compensation"),
        ("a quien le hablo si tengo dudas", "contact"),
    ],
)
def test_a_spanish_speaking_visitor_gets_the_studys_spanish_answer(
    stack: Stack, question: str, topic: str
) -> None:
    sender = new_sender()

    assert stack.texts(sender, question) == STUDY.faq_answer(topic, language="es")
    visitor = participant_of(stack, sender)
    assert (visitor.language, visitor.language_source) == ("es", "detected")


def test_chest_pain_in_the_middle_of_a_spanish_checkin_is_an_emergency(stack: Stack) -> None:
    sender = new_sender()
    started = stack.texts(sender, "hola, quiero hacer mi check in")
    assert started[-1].startswith(spanish("ask_checkin_feeling")[0])

    said = stack.texts(sender, "me duele mucho el pecho")

    assert said[: len(spanish("emergency"))] == spanish("emergency")
    assert STUDY.emergency_number in said[0]
    with session_scope(stack.settings.database_url) as session:
        [emergency] = session.execute(
            select(Escalation)
            .join(Participant, Participant.id == Escalation.participant_id)
            .where(Participant.sender_id == sender)
        ).scalars()
        assert (emergency.level, emergency.type) == (
            EscalationLevel.EMERGENCY,
            EscalationType.EMERGENCY,
        )


def test_a_participant_can_switch_language_and_back(stack: Stack) -> None:
    sender = new_sender()
    stack.texts(sender, "hi, what is a placebo")

    assert stack.texts(sender, "español") == spanish("language_changed")
    assert stack.texts(sender, "what is a placebo") == STUDY.faq_answer("placebo", language="es")
    assert stack.texts(sender, "english") == messages(STUDY, "language_changed")
    assert stack.texts(sender, "que es un placebo") == STUDY.faq_answer("placebo")
