"""A participant's language of record (bot/participants/language.py)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from bot.db.models import Channel, Participant
from bot.db.repository import enroll_participant, ensure_web_participant
from bot.participants.language import settle_language

pytestmark = pytest.mark.usefixtures("database_url")


def web_visitor(session: Session) -> Participant:
    return ensure_web_participant(session=session, sender_id="web-languagetest1")


def test_a_web_visitor_gets_the_language_of_their_first_words(session: Session) -> None:
    visitor = web_visitor(session)
    assert visitor.language_source is None

    first = settle_language(session=session, participant=visitor, text="hola, q es un placebo")

    assert first.language == "es" and first.changed_to is None
    assert (visitor.language, visitor.language_source) == ("es", "detected")


def test_words_with_no_language_leave_it_unknown_until_some_come(session: Session) -> None:
    visitor = web_visitor(session)

    assert settle_language(session=session, participant=visitor, text="ok").language == "en"
    assert visitor.language_source is None
    settle_language(session=session, participant=visitor, text="me siento mal")
    assert (visitor.language, visitor.language_source) == ("es", "detected")


def test_once_known_the_language_is_not_changed_by_the_words_of_a_message(
    session: Session,
) -> None:
    participant = enroll_participant(
        session=session, study_id="LANG-001", channel=Channel.SMS, language="en"
    )

    turn = settle_language(session=session, participant=participant, text="gracias, muy bien")

    assert turn.language == "en"
    assert (participant.language, participant.language_source) == ("en", "enrollment")


@pytest.mark.parametrize(
    ("start", "text", "wanted"),
    [("en", "español", "es"), ("es", "english", "en"), ("es", "cambiar idioma", "en")],
)
def test_a_participant_can_change_language_at_any_time(
    session: Session, start: str, text: str, wanted: str
) -> None:
    participant = enroll_participant(
        session=session, study_id="LANG-002", channel=Channel.SMS, language=start
    )

    turn = settle_language(session=session, participant=participant, text=text)

    assert turn.changed_to == wanted == turn.language
    assert (participant.language, participant.language_source) == (wanted, "participant")


def test_the_web_chats_switch_is_the_participants_own_choice(session: Session) -> None:
    visitor = web_visitor(session)

    turn = settle_language(
        session=session, participant=visitor, text="what is a placebo", chosen="es"
    )

    assert turn.language == "es" and turn.changed_to is None
    assert (visitor.language, visitor.language_source) == ("es", "participant")
