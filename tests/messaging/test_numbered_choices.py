"""Numbered options for buttons, and bare-number replies read back from the message log."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from bot.clients.numbered_options import choose, numbered_choices, with_options
from bot.db.models import Channel, Direction, MessageLog, Participant
from bot.db.repository import enroll_participant
from bot.messaging.numbered_choices import resolve_numbered_reply

YES_NO = [{"title": "Yes", "payload": "yes"}, {"title": "No", "payload": "no"}]
FEELING = [{"title": f"{n} Feeling {n}", "payload": str(n)} for n in range(1, 6)]
SCALE = [{"title": f"{n} Level {n}", "payload": str(n)} for n in range(5)]


@pytest.mark.parametrize("reply", ["2", " 2 ", "#2", "2.", "2)", "02"])
def test_a_bare_number_picks_that_option(reply: str) -> None:
    assert choose(reply, YES_NO) == "no"


@pytest.mark.parametrize("reply", ["3", "0", "2 please", "two", "", "1 2"])
def test_anything_else_picks_nothing(reply: str) -> None:
    assert choose(reply, YES_NO) is None


def test_titles_with_their_own_numbers_keep_them() -> None:
    assert [choice.number for choice in numbered_choices(SCALE)] == ["0", "1", "2", "3", "4"]
    assert choose("0", SCALE) == "0"
    assert choose("4", SCALE) == "4"
    assert choose("5", SCALE) is None
    assert choose("5", FEELING) == "5"


def test_titles_numbered_only_in_part_are_numbered_by_position() -> None:
    buttons = [{"title": "1 pill", "payload": "one"}, {"title": "None", "payload": "none"}]

    assert [choice.label for choice in numbered_choices(buttons)] == ["1 pill", "None"]
    assert choose("2", buttons) == "none"


def test_a_button_without_payload_answers_with_its_title() -> None:
    assert choose("1", [{"title": "Talk to a person"}]) == "Talk to a person"


def test_with_options_puts_them_on_their_own_line() -> None:
    assert (
        with_options("Did you take it?", YES_NO) == "Did you take it?\nReply 1 for Yes, 2 for No."
    )
    assert with_options("", YES_NO) == "Reply 1 for Yes, 2 for No."
    assert with_options("Hi", []) == "Hi"


@pytest.fixture
def participant(session: Session) -> Participant:
    found = enroll_participant(session=session, study_id="P-001", channel=Channel.SMS)
    session.commit()
    return found


def sent(
    session: Session,
    participant: Participant,
    buttons: list[dict[str, str]] | None,
    status: str = "delivered",
) -> None:
    session.add(
        MessageLog(
            participant_id=participant.id,
            sender_id=participant.sender_id,
            channel=Channel.SMS,
            direction=Direction.OUTBOUND,
            text="question",
            buttons=buttons,
            delivery_status=status,
        )
    )
    session.commit()


def resolve(session: Session, participant: Participant, text: str) -> str:
    return resolve_numbered_reply(session=session, participant_id=participant.id, text=text)


def test_a_number_answers_the_buttons_of_the_last_message(
    session: Session, participant: Participant
) -> None:
    sent(session, participant, YES_NO)

    assert resolve(session, participant, "2") == "no"
    assert resolve(session, participant, "9") == "9"
    assert resolve(session, participant, "no thanks") == "no thanks"


def test_a_number_after_a_message_without_buttons_stays_a_number(
    session: Session, participant: Participant
) -> None:
    sent(session, participant, YES_NO)
    sent(session, participant, None)

    assert resolve(session, participant, "2") == "2"


@pytest.mark.parametrize("status", ["suppressed", "failed", "undelivered"])
def test_messages_the_participant_never_saw_do_not_count(
    session: Session, participant: Participant, status: str
) -> None:
    sent(session, participant, YES_NO)
    sent(session, participant, None, status=status)

    assert resolve(session, participant, "1") == "yes"


def test_without_any_message_a_number_stays_a_number(
    session: Session, participant: Participant
) -> None:
    assert resolve(session, participant, "1") == "1"


def test_options_are_written_in_the_participants_language() -> None:
    assert (
        with_options("¿Tomó su medicina?", [{"title": "Sí", "payload": "yes"}, *YES_NO[1:]], "es")
        == "¿Tomó su medicina?\nResponda 1 para Sí, 2 para No."
    )
