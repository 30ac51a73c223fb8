"""Conversation log review over real Rasa trackers, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.db.models import Channel, EscalationLevel, EscalationType, MessageLog, Participant
from bot.escalation.records import raise_escalation
from bot.research.conversations import (
    ConversationFilters,
    DateRange,
    EntryKind,
    list_conversations,
    transcript,
)
from tests.research.review_builders import (
    DAY_2,
    DAY_5,
    Scenario,
    TrackerWriter,
    at,
    scenario,
    tracker_writer,
    user,
)


@pytest.fixture
def trackers(database_url: str) -> Iterator[TrackerWriter]:
    """Rasa's SQL tracker store on the test database."""
    with tracker_writer(database_url) as writer:
        yield writer


@pytest.fixture
def stored(trackers: TrackerWriter, session: Session) -> Scenario:
    """The four shared conversations."""
    return scenario(trackers, session)


def study_ids(session: Session, **filters: Any) -> list[str | None]:
    """The study IDs the list shows for these filters, in order."""
    rows = list_conversations(session=session, filters=ConversationFilters(**filters))
    return [row.study_id for row in rows]


# --- the list ---------------------------------------------------------------------------


def test_the_list_is_most_recent_first_with_figures(session: Session, stored: Scenario) -> None:
    rows = list_conversations(session=session)

    assert [row.study_id for row in rows] == ["P-004", "P-003", "P-002", "P-001"]
    first = rows[-1]
    assert first.sender_id == "P-001"
    assert first.channel is Channel.SMS
    assert first.participant_id == stored.participants["P-001"].id
    # The EXTERNAL check-in trigger is not the participant's message.
    assert (first.participant_messages, first.bot_messages) == (2, 2)
    assert first.min_confidence == pytest.approx(0.91)
    assert not first.fallback and first.escalations == 0 and not first.handoff
    assert first.first_activity.isoformat() == "2025-03-03T08:59:00+00:00"
    assert first.last_activity.isoformat() == "2025-03-03T09:01:02+00:00"


def test_the_list_flags_fallbacks_escalations_and_handoffs(
    session: Session, stored: Scenario
) -> None:
    rows = {row.study_id: row for row in list_conversations(session=session)}

    assert (rows["P-002"].nlu_fallbacks, rows["P-002"].fallback_replies) == (1, 1)
    # The fallback's 0.40 is below the FAQ topic's 0.45.
    assert rows["P-002"].min_confidence == pytest.approx(0.4)
    assert rows["P-003"].handoff and rows["P-003"].escalations == 1
    assert rows["P-004"].escalations == 1 and not rows["P-004"].handoff
    assert rows["P-004"].min_confidence == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("needle", "expected"),
    [("P-002", ["P-002"]), ("p-00", ["P-004", "P-003", "P-002", "P-001"]), ("P_001", [])],
)
def test_filter_by_study_id(
    session: Session, stored: Scenario, needle: str, expected: list[str]
) -> None:
    """Part of a study ID, any case; `_` and `%` are plain characters."""
    assert study_ids(session, study_id=needle) == expected


def test_filter_by_date_range(session: Session, stored: Scenario) -> None:
    one_day = DateRange(start=date(2025, 3, 4), end=date(2025, 3, 4))
    from_day_5 = DateRange(start=date(2025, 3, 7))
    until_day_2 = DateRange(end=date(2025, 3, 4))

    assert study_ids(session, dates=one_day) == ["P-002"]
    assert study_ids(session, dates=from_day_5) == ["P-004", "P-003"]
    assert study_ids(session, dates=until_day_2) == ["P-002", "P-001"]


def test_filter_by_channel(session: Session, stored: Scenario) -> None:
    assert study_ids(session, channel=Channel.TELEGRAM) == ["P-002"]
    assert study_ids(session, channel=Channel.SMS) == ["P-003", "P-001"]


@pytest.mark.parametrize(
    ("intent", "expected"),
    [
        ("report_symptom", ["P-001"]),
        ("faq/placebo", ["P-002"]),
        ("faq/risks", []),
        ("nlu_fallback", ["P-002"]),
        ("emergency", ["P-004"]),
        ("start_checkin", []),  # only ever triggered by the system, never said
    ],
)
def test_filter_by_intent(
    session: Session, stored: Scenario, intent: str, expected: list[str]
) -> None:
    assert study_ids(session, intent=intent) == expected


def test_filter_by_low_confidence_uses_the_faq_topic_confidence(
    session: Session, trackers: TrackerWriter, stored: Scenario
) -> None:
    """A sure `faq` with an unsure topic is low confidence."""
    trackers.save(
        "web-visitor-2",
        [
            user(
                "whats a placebo",
                "faq",
                0.95,
                at(DAY_2, 600),
                topic="faq/placebo",
                topic_confidence=0.5,
            )
        ],
    )

    rows = list_conversations(session=session, filters=ConversationFilters(low_confidence=True))

    assert [row.sender_id for row in rows] == ["web-visitor-2", "P-002"]
    assert rows[0].min_confidence == pytest.approx(0.5)


def test_filter_by_fallback_escalation_and_handoff(session: Session, stored: Scenario) -> None:
    assert study_ids(session, fallback=True) == ["P-002"]
    assert study_ids(session, escalated=True) == ["P-004", "P-003"]
    assert study_ids(session, handoff=True) == ["P-003"]
    assert study_ids(session, escalated=True, channel=Channel.WEB) == ["P-004"]


def test_a_handoff_escalation_alone_counts_as_a_handoff(session: Session, stored: Scenario) -> None:
    raise_escalation(
        session=session,
        participant_id=stored.participants["P-001"].id,
        level=EscalationLevel.URGENT,
        type=EscalationType.HANDOFF,
        reason="asked to talk to a person",
    )
    session.commit()

    assert study_ids(session, handoff=True) == ["P-003", "P-001"]


def test_escalations_outside_the_date_range_do_not_count(
    session: Session, stored: Scenario
) -> None:
    assert study_ids(session, escalated=True, dates=DateRange(end=date(2025, 3, 5))) == []


def test_paging(session: Session, stored: Scenario) -> None:
    page_2 = list_conversations(session=session, limit=2, offset=2)

    assert [row.study_id for row in page_2] == ["P-002", "P-001"]


def test_a_conversation_without_a_participant_is_listed(
    session: Session, trackers: TrackerWriter, stored: Scenario
) -> None:
    trackers.save("web-visitor-1", [user("hello", "greet", 0.99, at(DAY_5, 3600))])

    rows = list_conversations(session=session, filters=ConversationFilters())

    assert rows[1].sender_id == "web-visitor-1"
    assert rows[1].study_id is None and rows[1].channel is None
    assert study_ids(session, channel=Channel.WEB) == ["P-004"]


def test_no_tracker_store_yet_means_no_conversations(session: Session) -> None:
    assert list_conversations(session=session) == []
    assert transcript(session=session, sender_id="P-001") is None


# --- the transcript ---------------------------------------------------------------------


def test_the_transcript_has_every_event_in_time_order(session: Session, stored: Scenario) -> None:
    found = transcript(session=session, sender_id="P-001")

    assert found is not None
    assert (found.study_id, found.channel) == ("P-001", Channel.SMS)
    kinds = [entry.kind for entry in found.entries]
    assert kinds == [
        EntryKind.SESSION,
        EntryKind.TRIGGER,
        EntryKind.PARTICIPANT,
        EntryKind.ACTION,
        EntryKind.BOT,
        EntryKind.PARTICIPANT,
        EntryKind.ACTION,
        EntryKind.FORM,
        EntryKind.SLOT,
        EntryKind.BOT,
    ]
    times = [entry.at for entry in found.entries]
    assert times == sorted(times)


def test_participant_messages_carry_intent_confidence_and_entities(
    session: Session, stored: Scenario
) -> None:
    found = transcript(session=session, sender_id="P-001")
    assert found is not None
    hi, symptom = [e for e in found.entries if e.kind is EntryKind.PARTICIPANT]

    assert (hi.text, hi.intent, hi.confidence, hi.low_confidence) == ("hi", "greet", 0.98, False)
    assert symptom.intent == "report_symptom"
    assert symptom.entities == ("SYMPTOM: nausea",)
    trigger = next(e for e in found.entries if e.kind is EntryKind.TRIGGER)
    assert trigger.name == "start_checkin" and trigger.text is None


def test_actions_slots_forms_and_replies(session: Session, stored: Scenario) -> None:
    found = transcript(session=session, sender_id="P-001")
    assert found is not None

    actions = [(e.name, e.detail) for e in found.entries if e.kind is EntryKind.ACTION]
    assert actions == [("utter_greet", "RulePolicy"), ("symptom_form", "RulePolicy")]
    slot = next(e for e in found.entries if e.kind is EntryKind.SLOT)
    assert (slot.name, slot.value) == ("symptom", "nausea")
    form = next(e for e in found.entries if e.kind is EntryKind.FORM)
    assert form.name == "symptom_form"
    replies = [e for e in found.entries if e.kind is EntryKind.BOT]
    assert replies[0].text == "Hello! How are you?"
    assert (replies[0].channel, replies[0].delivery_status) == ("sms", "delivered")
    assert replies[1].buttons == ("1 Mild", "2 Bad")


def test_the_message_log_is_merged_without_duplicates(session: Session, stored: Scenario) -> None:
    """Messages the tracker has get their delivery status; the others get their own lines."""
    found = transcript(session=session, sender_id="P-003")
    assert found is not None
    kinds = [entry.kind for entry in found.entries]

    assert kinds == [
        EntryKind.PARTICIPANT,
        EntryKind.ESCALATION,
        EntryKind.ACTION,
        EntryKind.BOT,
        EntryKind.PAUSE,
        EntryKind.OUTBOUND,
        EntryKind.INBOUND,
    ]
    by_kind = {entry.kind: entry for entry in found.entries}
    assert by_kind[EntryKind.PARTICIPANT].delivery_status == "received"
    assert by_kind[EntryKind.BOT].delivery_status == "delivered"  # "Reply 1 for OK" added
    staff = by_kind[EntryKind.OUTBOUND]
    assert staff.message_log_id == stored.staff_message.id
    assert staff.text == "Hello, this is the study nurse. How can I help?"
    assert by_kind[EntryKind.INBOUND].message_log_id == stored.unhandled_message.id
    escalation = by_kind[EntryKind.ESCALATION]
    assert escalation.escalation_id == stored.escalations["handoff"].id
    assert (escalation.name, escalation.value, escalation.detail) == (
        "urgent handoff",
        "open",
        "urgent",
    )
    assert escalation.text == "asked to talk to a person"


def test_low_confidence_fallbacks_and_faq_topics(session: Session, stored: Scenario) -> None:
    found = transcript(session=session, sender_id="P-002")
    assert found is not None
    fallback, faq = [e for e in found.entries if e.kind is EntryKind.PARTICIPANT]

    assert (fallback.intent, fallback.low_confidence) == ("nlu_fallback", True)
    assert (faq.intent, faq.confidence, faq.topic_confidence) == ("faq/placebo", 0.9, 0.45)
    assert faq.low_confidence
    assert found.channel is Channel.TELEGRAM


def test_red_flags_are_shown(session: Session, stored: Scenario) -> None:
    found = transcript(session=session, sender_id="P-004")
    assert found is not None

    message = found.entries[0]
    assert (message.intent, message.red_flags) == ("emergency", ("chest_pain",))
    assert [e.kind for e in found.entries][-1] is EntryKind.ESCALATION


def test_the_transcript_can_be_limited_to_dates(session: Session, stored: Scenario) -> None:
    found = transcript(
        session=session,
        sender_id="P-003",
        dates=DateRange(start=date(2025, 3, 8)),
    )

    assert found is not None and found.entries == []


def test_unknown_conversations_have_no_transcript(session: Session, stored: Scenario) -> None:
    assert transcript(session=session, sender_id="nobody") is None


def test_a_threshold_can_be_chosen(session: Session, stored: Scenario) -> None:
    found = transcript(session=session, sender_id="P-001", threshold=0.95)
    assert found is not None

    flags = [e.low_confidence for e in found.entries if e.kind is EntryKind.PARTICIPANT]
    assert flags == [False, True]


# --- languages ----------------------------------------------------------------------------


def spanish_p003(session: Session, stored: Scenario) -> None:
    """P-003 reads Spanish, and their logged messages say so."""
    participant = session.get(Participant, stored.participants["P-003"].id)
    assert participant is not None
    participant.language = "es"
    session.execute(
        update(MessageLog).where(MessageLog.participant_id == participant.id).values(language="es")
    )
    session.commit()


def test_the_list_shows_and_filters_by_language(session: Session, stored: Scenario) -> None:
    spanish_p003(session, stored)

    rows = list_conversations(session=session)

    assert {row.study_id: row.language for row in rows} == {
        "P-004": "en",
        "P-003": "es",
        "P-002": "en",
        "P-001": "en",
    }
    assert study_ids(session, language="es") == ["P-003"]
    assert study_ids(session, language="en") == ["P-004", "P-002", "P-001"]


def test_transcript_messages_carry_their_logged_language(
    session: Session, stored: Scenario
) -> None:
    spanish_p003(session, stored)

    found = transcript(session=session, sender_id="P-003")

    assert found is not None and found.language == "es"
    logged = [entry for entry in found.entries if entry.message_log_id and entry.text]
    kinds = {entry.kind for entry in logged}
    assert {EntryKind.PARTICIPANT, EntryKind.BOT, EntryKind.OUTBOUND, EntryKind.INBOUND} <= kinds
    assert {entry.language for entry in logged if entry.kind is not EntryKind.ESCALATION} == {"es"}
