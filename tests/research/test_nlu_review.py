"""The NLU improvement loop over real Rasa trackers, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.loading import load_data
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.settings import get_settings
from bot.db.models import AuditEvent, NluLabel
from bot.research import nlu_review
from bot.research.nlu_review import (
    EXPORT_MARK,
    ExportError,
    LabelError,
    export_nlu,
    known_intents,
    label,
    pending_export_count,
    queue_size,
    review_queue,
    training_example,
)
from bot.study.config import FAQ_TOPICS
from tests.research.review_builders import (
    DAY_2,
    DAY_6,
    Scenario,
    TrackerWriter,
    at,
    scenario,
    tracker_writer,
    user,
    user_event_ids,
)

CONTRACT_INTENTS = (
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "bot_challenge",
    "start_checkin",
    "report_symptom",
    "feeling_well",
    "emergency",
    "request_human",
    "withdraw",
    "medical_advice",
    "missed_dose",
    "reschedule_visit",
    "give_feedback",
    "ask_simpler",
    "out_of_scope",
)


@pytest.fixture
def trackers(database_url: str) -> Iterator[TrackerWriter]:
    """Rasa's SQL tracker store on the test database."""
    with tracker_writer(database_url) as writer:
        yield writer


@pytest.fixture
def stored(trackers: TrackerWriter, session: Session) -> Scenario:
    """The four shared conversations, and one more unsure message with personal details."""
    result = scenario(trackers, session)
    trackers.save(
        "P-009",
        [
            user(
                "hi its Margaret, call me on 312-555-0123 about the thing",
                "request_human",
                0.52,
                at(DAY_6, 600),
            )
        ],
    )
    return result


@pytest.fixture
def ids(session: Session, stored: Scenario) -> dict[str, int]:
    """User event IDs by message text."""
    found: dict[str, int] = {}
    for sender in ("P-001", "P-002", "P-003", "P-004", "P-009"):
        found.update(user_event_ids(session, sender))
    return found


def audit_actions(session: Session, action: str) -> list[AuditEvent]:
    """The audit events of one action, oldest first."""
    session.expire_all()
    return list(
        session.execute(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).scalars()
    )


# --- intents ------------------------------------------------------------------------------


def test_known_intents_are_the_domain_and_the_faq_topics() -> None:
    intents = known_intents()

    assert set(CONTRACT_INTENTS) <= set(intents)
    assert {f"faq/{topic}" for topic in FAQ_TOPICS} <= set(intents)
    assert "faq" not in intents and "nlu_fallback" not in intents
    assert len(intents) == len(set(intents))


# --- the queue ----------------------------------------------------------------------------


def test_the_queue_has_unsure_and_fallback_messages_oldest_first(
    session: Session, ids: dict[str, int]
) -> None:
    items = review_queue(session=session)

    assert [item.text for item in items] == [
        "blorp the thing",
        "whats the fake pill",
        "hi its Margaret, call me on 312-555-0123 about the thing",
    ]
    fallback, faq, personal = items
    assert (fallback.event_id, fallback.study_id, fallback.fallback) == (
        ids["blorp the thing"],
        "P-002",
        True,
    )
    assert (fallback.predicted_intent, fallback.confidence) == ("nlu_fallback", 0.4)
    assert (faq.predicted_intent, faq.confidence) == ("faq/placebo", pytest.approx(0.45))
    assert personal.study_id is None and personal.sender_id == "P-009"
    assert personal.masked_text == "hi its [name], call me on [phone] about the thing"
    assert fallback.at.isoformat() == "2025-03-04T09:00:00+00:00"
    assert queue_size(session=session) == 3


def test_the_threshold_and_limit_can_be_chosen(session: Session, ids: dict[str, int]) -> None:
    strict = review_queue(session=session, threshold=0.95)

    assert "i feel sick to my stomach" in [item.text for item in strict]
    assert "hi" not in [item.text for item in strict]  # 0.98
    assert "crushing chest pain" not in [item.text for item in strict]
    assert len(review_queue(session=session, limit=1)) == 1
    assert queue_size(session=session, threshold=0.3) == 1  # the fallback only


def test_system_triggers_never_enter_the_queue(
    session: Session, trackers: TrackerWriter, ids: dict[str, int]
) -> None:
    trackers.save("P-010", [user("EXTERNAL: start_checkin", "start_checkin", 0.1, at(DAY_2, 5))])

    assert "EXTERNAL: start_checkin" not in [item.text for item in review_queue(session=session)]


def test_no_tracker_store_means_an_empty_queue(session: Session) -> None:
    assert review_queue(session=session) == []
    assert queue_size(session=session) == 0


# --- labelling ----------------------------------------------------------------------------


def test_a_label_takes_the_message_out_of_the_queue(
    session: Session, ids: dict[str, int], stored: Scenario
) -> None:
    event_id = ids["whats the fake pill"]

    stored_label = label(session=session, event_id=event_id, actor="rita", intent="faq/placebo")
    session.commit()

    assert (stored_label.intent, stored_label.out_of_scope) == ("faq/placebo", False)
    assert (stored_label.predicted_intent, stored_label.sender_id) == ("faq/placebo", "P-002")
    assert stored_label.confidence == pytest.approx(0.45)
    assert stored_label.labelled_by == "rita" and stored_label.exported_at is None
    assert event_id not in [item.event_id for item in review_queue(session=session)]
    assert queue_size(session=session) == 2
    [event] = audit_actions(session, "nlu.label")
    assert event.actor == "rita"
    assert event.participant_id == stored.participants["P-002"].id
    assert event.detail == (
        f"message {event_id}: predicted faq/placebo (0.45), labelled faq/placebo"
    )
    assert "fake pill" not in event.detail


@pytest.mark.parametrize(
    ("intent", "out_of_scope"), [("out_of_scope", False), (None, True), ("", True)]
)
def test_out_of_scope(
    session: Session, ids: dict[str, int], intent: str | None, out_of_scope: bool
) -> None:
    stored_label = label(
        session=session,
        event_id=ids["blorp the thing"],
        actor="rita",
        intent=intent,
        out_of_scope=out_of_scope,
    )

    assert (stored_label.intent, stored_label.out_of_scope) == (None, True)


@pytest.mark.parametrize(
    ("intent", "out_of_scope", "message"),
    [
        ("faq", False, "not an intent"),
        ("faq/weather", False, "not an intent"),
        ("nlu_fallback", False, "not an intent"),
        ("made_up", False, "not an intent"),
        (None, False, "choose an intent"),
        ("greet", True, "not both"),
    ],
)
def test_labels_are_checked(
    session: Session, ids: dict[str, int], intent: str | None, out_of_scope: bool, message: str
) -> None:
    with pytest.raises(LabelError, match=message):
        label(
            session=session,
            event_id=ids["blorp the thing"],
            actor="rita",
            intent=intent,
            out_of_scope=out_of_scope,
        )
    assert session.execute(select(NluLabel)).first() is None


def test_only_participant_messages_can_be_labelled(
    session: Session, trackers: TrackerWriter, ids: dict[str, int]
) -> None:
    trackers.save("P-011", [user("EXTERNAL: start_checkin", "start_checkin", 1.0, at(DAY_2))])
    trigger_id = user_event_ids(session, "P-011")["EXTERNAL: start_checkin"]

    for event_id in (trigger_id, trigger_id + 1000, ids["hi"] + 1):  # +1: an action
        with pytest.raises(LabelError, match="no participant message"):
            label(session=session, event_id=event_id, actor="rita", intent="greet")


def test_a_message_is_labelled_once(session: Session, ids: dict[str, int]) -> None:
    label(session=session, event_id=ids["blorp the thing"], actor="rita", intent="greet")
    session.commit()

    with pytest.raises(LabelError, match="labelled already by rita"):
        label(session=session, event_id=ids["blorp the thing"], actor="ada", intent="thank")


def test_any_participant_message_can_be_labelled(session: Session, ids: dict[str, int]) -> None:
    """Not only queued ones (a researcher may correct a confident mistake)."""
    stored_label = label(session=session, event_id=ids["hi"], actor="rita", intent="greet")

    assert (stored_label.predicted_intent, stored_label.confidence) == ("greet", 0.98)


# --- export -------------------------------------------------------------------------------


def _label_three(session: Session, ids: dict[str, int]) -> None:
    """Label the three queued messages and commit."""
    label(session=session, event_id=ids["blorp the thing"], actor="rita", out_of_scope=True)
    label(session=session, event_id=ids["whats the fake pill"], actor="rita", intent="faq/placebo")
    personal = "hi its Margaret, call me on 312-555-0123 about the thing"
    label(session=session, event_id=ids[personal], actor="rita", intent="request_human")
    session.commit()


def test_export_writes_rasa_nlu_data_with_masked_text(
    session: Session, ids: dict[str, int], tmp_path: Path
) -> None:
    _label_three(session, ids)
    path = tmp_path / "nlu" / "reviewed.yml"

    written = export_nlu(session=session, path=path, actor="rita")
    session.commit()

    assert written == 3
    text = path.read_text(encoding="utf8")
    assert text.startswith(EXPORT_MARK)
    assert "Margaret" not in text and "312-555-0123" not in text
    data = load_data(str(path))
    examples = {(m.get("intent"), m.get("text")) for m in data.intent_examples}
    assert examples == {
        ("out_of_scope", "blorp the thing"),
        ("faq", "whats the fake pill"),
        ("request_human", "hi its [name], call me on [phone] about the thing"),
    }
    faq = next(m for m in data.intent_examples if m.get("intent") == "faq")
    assert faq.get("intent_response_key") == "faq/placebo"
    session.expire_all()
    labels = session.execute(select(NluLabel)).scalars().all()
    assert all(row.exported_at is not None for row in labels)
    assert pending_export_count(session=session) == 0
    [event] = audit_actions(session, "nlu.export")
    assert event.actor == "rita"
    assert event.detail.startswith("3 labels exported: 3 new examples written to ")


def test_a_second_export_adds_to_the_file(
    session: Session, ids: dict[str, int], tmp_path: Path
) -> None:
    path = tmp_path / "reviewed.yml"
    label(session=session, event_id=ids["blorp the thing"], actor="rita", intent="greet")
    session.commit()
    assert export_nlu(session=session, path=path) == 1
    session.commit()
    first = path.read_text(encoding="utf8")

    assert export_nlu(session=session, path=path) == 0  # nothing new: the file is untouched
    assert path.read_text(encoding="utf8") == first

    label(session=session, event_id=ids["whats the fake pill"], actor="rita", intent="greet")
    label(session=session, event_id=ids["hi"], actor="rita", intent="greet")
    session.commit()
    assert export_nlu(session=session, path=path, training_dir=tmp_path / "none") == 2
    data = load_data(str(path))
    assert sorted(m.get("text") for m in data.intent_examples) == [
        "blorp the thing",
        "hi",
        "whats the fake pill",
    ]


def test_examples_already_in_the_training_data_are_not_written_again(
    session: Session, ids: dict[str, int], tmp_path: Path
) -> None:
    (tmp_path / "conversation.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - Hi\n    - hello\n',
        encoding="utf8",
    )
    label(session=session, event_id=ids["hi"], actor="rita", intent="greet")
    session.commit()

    path = tmp_path / "reviewed.yml"
    assert export_nlu(session=session, path=path, training_dir=tmp_path) == 0
    assert not path.exists()
    assert pending_export_count(session=session) == 0  # marked: nothing left to export


def test_nothing_is_ever_written_into_the_training_data(
    session: Session, ids: dict[str, int]
) -> None:
    label(session=session, event_id=ids["blorp the thing"], actor="rita", intent="greet")
    session.commit()
    path = nlu_review.TRAINING_DATA_DIR / "es" / "reviewed.yml"

    with pytest.raises(ExportError, match="inside the training data"):
        export_nlu(session=session, path=path)
    assert not path.exists()
    assert pending_export_count(session=session) == 1


def test_the_command_line_writes_to_the_data_dir_by_default_or_to_stdout(
    session: Session, ids: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    label(session=session, event_id=ids["blorp the thing"], actor="rita", intent="greet")
    session.commit()
    path = nlu_review.default_export_path(datetime.now(timezone.utc).date())

    assert nlu_review.main(["export"]) == 0
    label(session=session, event_id=ids["whats the fake pill"], actor="rita", intent="greet")
    session.commit()
    assert nlu_review.main(["export", "--out", "-"]) == 0

    assert path.parent == get_settings().data_dir / "exports"
    assert not path.resolve().is_relative_to(nlu_review.TRAINING_DATA_DIR.resolve())
    assert "blorp the thing" in path.read_text(encoding="utf8")
    out = capsys.readouterr().out
    assert "1 new examples written to" in out
    assert (
        out.split("\n", 1)[1].startswith(nlu_review.EXPORT_MARK) and "- whats the fake pill" in out
    )


def test_export_never_overwrites_another_file(
    session: Session, ids: dict[str, int], tmp_path: Path
) -> None:
    other = tmp_path / "faq.yml"
    other.write_text('version: "3.1"\nnlu: []\n', encoding="utf8")
    _label_three(session, ids)

    with pytest.raises(ExportError, match="not a file of reviewed examples"):
        export_nlu(session=session, path=other)
    session.rollback()

    assert other.read_text(encoding="utf8") == 'version: "3.1"\nnlu: []\n'
    assert pending_export_count(session=session) == 3


def test_nothing_to_export_writes_nothing(session: Session, tmp_path: Path) -> None:
    assert export_nlu(session=session, path=tmp_path / "reviewed.yml") == 0
    assert not (tmp_path / "reviewed.yml").exists()
    assert audit_actions(session, "nlu.export") == []


def test_the_command_line_says_when_nothing_was_new(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reviewed.yml"

    assert nlu_review.main(["export", "--out", str(path)]) == 0
    assert capsys.readouterr().out == f"No new examples to write; {path} is unchanged.\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see [this](that)", "see [this] (that)"),
        ("a]{b} and c][d]", "a] {b} and c] [d]"),
        ("two\nlines\tand  spaces", "two lines and spaces"),
        ("call 312-555-0123", "call [phone]"),
    ],
)
def test_training_examples_are_one_safe_line(text: str, expected: str) -> None:
    assert training_example(text) == expected


def test_the_command_line_exports(
    session: Session,
    ids: dict[str, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _label_three(session, ids)
    path = tmp_path / "reviewed.yml"

    status = nlu_review.main(["export", "--out", str(path), "--actor", "rita"])

    assert status == 0
    assert capsys.readouterr().out == f"3 new examples written to {path}.\n"
    assert len(load_data(str(path)).intent_examples) == 3
    assert audit_actions(session, "nlu.export")[0].actor == "rita"


def test_the_command_line_refuses_another_file(
    session: Session, ids: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _label_three(session, ids)
    other = tmp_path / "faq.yml"
    other.write_text("nlu: []\n", encoding="utf8")

    assert nlu_review.main(["export", "--out", str(other)]) == 1
    assert "not a file of reviewed examples" in capsys.readouterr().err
