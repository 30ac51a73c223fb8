"""The NLU improvement loop: messages the model was unsure of, labelled, then exported.

- `review_queue`: participant messages with a confidence below the threshold
  (LOW_CONFIDENCE) or the intent `nlu_fallback`, not yet labelled, oldest first;
- `label`: a researcher gives one the right intent (or marks it out of scope), checked
  against the domain's intents and the FAQ topics (`faq/<topic>`);
- `reviewed_nlu`: labelled examples not yet exported (and not already in the training data,
  data/nlu), personal details masked, as Rasa 3.1 NLU YAML grouped by intent, then marked
  exported: the console offers it as a download;
- `export_nlu`: the same, written to a file outside the training data (merged with what it
  already holds; any other file is never overwritten; a path inside data/nlu is refused).

Nothing here writes into data/nlu: a researcher reviews the file and adds its examples to
the training data by hand (README, "NLU review"). From the command line:
`python -m bot.research.nlu_review export [--out FILE|-]`, by default
`$DATA_DIR/exports/nlu-reviewed-<date>.yml` (`-`: standard output).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.core.settings import PROJECT_ROOT, get_settings
from bot.db.models import NluLabel, Participant
from bot.db.types import utcnow
from bot.research.conversations import (
    FALLBACK_INTENT,
    LOW_CONFIDENCE,
    effective_confidence,
    event_text,
    from_epoch,
    low_confidence,
    participant_message,
    predicted_intent,
    tracker_events,
    tracker_store_ready,
)
from bot.research.masking import mask_text, mask_texts
from bot.staff import audit
from bot.staff.audit import SYSTEM_ACTOR, AuditAction
from bot.study.config import FAQ_TOPICS

logger = logging.getLogger(__name__)

DOMAIN_DIR = PROJECT_ROOT / "domain"
TRAINING_DATA_DIR = PROJECT_ROOT / "data" / "nlu"
STDOUT = "-"
OUT_OF_SCOPE = "out_of_scope"
RETRIEVAL_INTENTS = {"faq": FAQ_TOPICS}
DEFAULT_QUEUE_LIMIT = 50
# The first line of every file export_nlu writes: it only ever rewrites such a file.
EXPORT_MARK = "# Reviewed NLU examples"
EXPORT_HEADER = (
    f"{EXPORT_MARK}: participant messages the model was unsure of, labelled by researchers\n"
    "# in the staff console (NLU review) and exported by bot.research.nlu_review. Personal\n"
    "# details are masked ([name], [phone], [email], [url]). Review them, then add them to\n"
    "# the files of data/nlu by hand before retraining (README, NLU review).\n"
)
# "](", "]{" and "][" would read as entity annotations in Rasa's training data format.
_ANNOTATION = re.compile(r"\](?=[({\[])")


class LabelError(ValueError):
    """A label that cannot be given: unknown intent, unknown message, or labelled already."""


class ExportError(RuntimeError):
    """The export cannot write where it was asked to."""


def export_file_name(day: date) -> str:
    """The name of a day's export: nlu-reviewed-<YYYY-MM-DD>.yml."""
    return f"nlu-reviewed-{day:%Y-%m-%d}.yml"


def default_export_path(day: date) -> Path:
    """Where the command line writes by default: the data dir's exports folder."""
    return get_settings().data_dir / "exports" / export_file_name(day)


# --- the intents a message may be labelled with -------------------------------------------


def _domain_intents(domain_dir: Path) -> set[str]:
    """The intent names declared in the domain files."""
    names: set[str] = set()
    for path in sorted(domain_dir.glob("*.yml")):
        content = yaml.safe_load(path.read_text(encoding="utf8")) or {}
        for item in content.get("intents") or []:
            names.add(item if isinstance(item, str) else next(iter(item)))
    return names


@lru_cache(maxsize=4)
def known_intents(domain_dir: Path = DOMAIN_DIR) -> tuple[str, ...]:
    """Every intent a message may be labelled with: the domain's, and `faq/<topic>`."""
    plain = _domain_intents(domain_dir) - set(RETRIEVAL_INTENTS)
    topics = [f"{intent}/{topic}" for intent, items in RETRIEVAL_INTENTS.items() for topic in items]
    return (*sorted(plain), *topics)


# --- the queue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    """A participant message waiting for a researcher's label."""

    event_id: int
    sender_id: str
    study_id: str | None
    at: datetime
    text: str
    masked_text: str
    predicted_intent: str | None
    confidence: float | None

    @property
    def fallback(self) -> bool:
        """True when the model fell back (no intent was confident enough)."""
        return self.predicted_intent == FALLBACK_INTENT


def _queue_query(session: Session, threshold: float) -> Select:
    """Participant messages that need a label and have none."""
    return (
        select(
            tracker_events.c.id,
            tracker_events.c.sender_id,
            tracker_events.c.timestamp,
            predicted_intent(session).label("intent"),
            event_text(session).label("text"),
            effective_confidence(session).label("confidence"),
            Participant.study_id,
        )
        .outerjoin(NluLabel, NluLabel.event_id == tracker_events.c.id)
        .outerjoin(Participant, Participant.sender_id == tracker_events.c.sender_id)
        .where(
            participant_message(session),
            low_confidence(session, threshold),
            NluLabel.id.is_(None),
        )
    )


def review_queue(
    *, session: Session, threshold: float = LOW_CONFIDENCE, limit: int = DEFAULT_QUEUE_LIMIT
) -> list[QueueItem]:
    """Messages to label, oldest first."""
    if not tracker_store_ready(session=session):
        return []
    query = _queue_query(session, threshold).order_by(
        tracker_events.c.timestamp, tracker_events.c.id
    )
    rows = session.execute(query.limit(limit)).all()
    masked = mask_texts(row.text for row in rows)
    return [
        QueueItem(
            event_id=row.id,
            sender_id=row.sender_id,
            study_id=row.study_id,
            at=from_epoch(row.timestamp),
            text=row.text,
            masked_text=shown,
            predicted_intent=row.intent,
            confidence=None if row.confidence is None else float(row.confidence),
        )
        for row, shown in zip(rows, masked, strict=True)
    ]


def queue_size(*, session: Session, threshold: float = LOW_CONFIDENCE) -> int:
    """How many messages wait for a label."""
    if not tracker_store_ready(session=session):
        return 0
    subquery = _queue_query(session, threshold).subquery()
    return int(session.execute(select(func.count()).select_from(subquery)).scalar_one())


def _user_event(session: Session, event_id: int) -> Row | None:
    """The tracker event of a participant message, or None."""
    if not tracker_store_ready(session=session):
        return None
    return session.execute(
        select(
            tracker_events.c.id,
            tracker_events.c.sender_id,
            predicted_intent(session).label("intent"),
            effective_confidence(session).label("confidence"),
        ).where(tracker_events.c.id == event_id, participant_message(session))
    ).one_or_none()


# --- labelling ------------------------------------------------------------------------------


def _checked_intent(intent: str | None, out_of_scope: bool) -> str | None:
    """The intent to store (None for out of scope); LabelError when it will not do."""
    if intent == OUT_OF_SCOPE:
        intent, out_of_scope = None, True
    if out_of_scope:
        if intent:
            raise LabelError("choose an intent or out of scope, not both")
        return None
    if not intent:
        raise LabelError("choose an intent, or mark the message out of scope")
    if intent not in known_intents():
        raise LabelError(f"{intent!r} is not an intent of this assistant")
    return intent


def label(
    *,
    session: Session,
    event_id: int,
    actor: str,
    intent: str | None = None,
    out_of_scope: bool = False,
) -> NluLabel:
    """Label a participant message with the right intent (or out of scope), audited."""
    checked = _checked_intent(intent, out_of_scope)
    event = _user_event(session, event_id)
    if event is None:
        raise LabelError(f"there is no participant message {event_id}")
    existing = session.execute(
        select(NluLabel).where(NluLabel.event_id == event_id)
    ).scalar_one_or_none()
    if existing is not None:
        raise LabelError(f"message {event_id} was labelled already by {existing.labelled_by}")
    row = NluLabel(
        event_id=event_id,
        sender_id=event.sender_id,
        predicted_intent=event.intent,
        confidence=None if event.confidence is None else float(event.confidence),
        intent=checked,
        out_of_scope=checked is None,
        labelled_by=actor,
    )
    session.add(row)
    session.flush()
    _audit_label(session, row)
    logger.info("NLU label %s: event %s labelled by %s", row.id, event_id, actor)
    return row


def _audit_label(session: Session, row: NluLabel) -> None:
    """The audit event of a label (intent names only, never the message)."""
    participant_id = session.execute(
        select(Participant.id).where(Participant.sender_id == row.sender_id)
    ).scalar_one_or_none()
    confidence = "?" if row.confidence is None else f"{row.confidence:.2f}"
    audit.record(
        session=session,
        actor=row.labelled_by,
        action=AuditAction.NLU_LABELLED,
        participant_id=participant_id,
        detail=(
            f"message {row.event_id}: predicted {row.predicted_intent} ({confidence}), "
            f"labelled {row.intent or OUT_OF_SCOPE}"
        ),
    )


# --- export ---------------------------------------------------------------------------------


def training_example(text: str, *, masked: bool = False) -> str:
    """A message as one line of NLU training data: masked, one line, no annotation syntax."""
    shown = text if masked else mask_text(text)
    line = " ".join("".join(c if c.isprintable() else " " for c in shown).split())
    return _ANNOTATION.sub("] ", line)


def _key(example: str) -> str:
    """An example as compared for duplicates."""
    return " ".join(example.lower().split())


def _examples_of(content: Any) -> dict[str, list[str]]:
    """The examples of parsed NLU YAML, by intent."""
    groups: dict[str, list[str]] = {}
    for item in (content or {}).get("nlu") or []:
        if not isinstance(item, dict) or "intent" not in item:
            continue
        lines = str(item.get("examples") or "").splitlines()
        examples = [line.strip()[2:].strip() for line in lines if line.strip().startswith("- ")]
        groups.setdefault(str(item["intent"]), []).extend(examples)
    return groups


def _read_reviewed(path: Path) -> dict[str, list[str]]:
    """The examples already in the export file; ExportError if it is not one of ours, or
    inside the training data."""
    if path.resolve().is_relative_to(TRAINING_DATA_DIR.resolve()):
        raise ExportError(
            f"{shown_path(path)} is inside the training data: write the export elsewhere, "
            "review it, then add its examples to data/nlu by hand"
        )
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf8")
    if not text.startswith(EXPORT_MARK):
        raise ExportError(
            f"{path} exists and is not a file of reviewed examples: choose another file"
        )
    return _examples_of(yaml.safe_load(text))


def _training_data_keys(training_dir: Path) -> set[str]:
    """Every example of the training data's NLU files (every language's folder too)."""
    keys: set[str] = set()
    for other in sorted(training_dir.rglob("*.y*ml")):
        content = yaml.safe_load(other.read_text(encoding="utf8"))
        for examples in _examples_of(content).values():
            keys.update(_key(example) for example in examples)
    return keys


def render_nlu(groups: dict[str, list[str]]) -> str:
    """Rasa 3.1 NLU YAML of examples grouped by intent (intents sorted)."""
    lines = [EXPORT_HEADER.rstrip("\n"), 'version: "3.1"', "", "nlu:"]
    for intent in sorted(groups):
        if not groups[intent]:
            continue
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {example}" for example in groups[intent]]
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    """Replace the file in one step (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _pending(session: Session) -> list[tuple[NluLabel, str | None]]:
    """Labels not yet exported, with their message text (None if the event is gone)."""
    if not tracker_store_ready(session=session):
        return []
    query = (
        select(NluLabel, event_text(session))
        .outerjoin(tracker_events, tracker_events.c.id == NluLabel.event_id)
        .where(NluLabel.exported_at.is_(None))
        .order_by(NluLabel.id)
    )
    return [(row[0], row[1]) for row in session.execute(query).all()]


def pending_export_count(*, session: Session) -> int:
    """How many labels wait for the next export."""
    return int(
        session.execute(
            select(func.count(NluLabel.id)).where(NluLabel.exported_at.is_(None))
        ).scalar_one()
    )


def _merge(
    groups: dict[str, list[str]], pending: list[tuple[NluLabel, str | None]], known: set[str]
) -> int:
    """Add the new examples to the groups, skipping any already known; how many were added."""
    texts = mask_texts(text or "" for _, text in pending)
    added = 0
    for (row, text), masked in zip(pending, texts, strict=True):
        example = training_example(masked, masked=True) if text else ""
        if not example or _key(example) in known:
            continue
        known.add(_key(example))
        groups.setdefault(row.intent or OUT_OF_SCOPE, []).append(example)
        added += 1
    return added


def shown_path(path: Path) -> str:
    """The path as people read it: relative to the project when inside it."""
    resolved = path.resolve()
    if resolved.is_relative_to(PROJECT_ROOT):
        return str(resolved.relative_to(PROJECT_ROOT))
    return str(path)


def export_summary(written: int, path: Path) -> str:
    """What an export did, in one sentence."""
    if not written:
        return f"No new examples to write; {shown_path(path)} is unchanged."
    return f"{written} new examples written to {shown_path(path)}."


def reviewed_nlu(
    *,
    session: Session,
    destination: str,
    actor: str = SYSTEM_ACTOR,
    groups: dict[str, list[str]] | None = None,
    training_dir: Path = TRAINING_DATA_DIR,
) -> tuple[str, int]:
    """Labelled, not yet exported examples added to `groups` as NLU YAML, and how many were
    new; the labels are marked exported and the export audited (to `destination`, in words).

    Examples already in the training data (or in `groups`) are not added again, but their
    labels are marked exported too.
    """
    groups = dict(groups or {})
    pending = _pending(session)
    if not pending:
        return render_nlu(groups), 0
    known = _training_data_keys(training_dir) | {
        _key(e) for items in groups.values() for e in items
    }
    written = _merge(groups, pending, known)
    session.execute(
        update(NluLabel)
        .where(NluLabel.id.in_([row.id for row, _ in pending]), NluLabel.exported_at.is_(None))
        .values(exported_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session=session,
        actor=actor,
        action=AuditAction.NLU_EXPORTED,
        detail=f"{len(pending)} labels exported: {written} new examples written to {destination}",
    )
    logger.info("NLU export: %d labels, %d new examples, by %s", len(pending), written, actor)
    return render_nlu(groups), written


def export_nlu(
    *,
    session: Session,
    path: Path,
    actor: str = SYSTEM_ACTOR,
    training_dir: Path = TRAINING_DATA_DIR,
) -> int:
    """Write labelled, not yet exported examples to `path`; how many new examples it got.

    Raises ExportError when `path` is inside the training data or a file this function did
    not write.
    """
    text, written = reviewed_nlu(
        session=session,
        destination=shown_path(path),
        actor=actor,
        groups=_read_reviewed(path),
        training_dir=training_dir,
    )
    if written:
        _write_atomically(path, text)
    return written


# --- command line ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    """The command line: `export [--out FILE] [--actor NAME]`."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.research.nlu_review",
        description="Export researchers' labels of unsure messages as Rasa NLU training data.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write labelled examples to an NLU file")
    export.add_argument(
        "--out",
        help="a file outside data/nlu, or - for standard output; "
        "default: $DATA_DIR/exports/nlu-reviewed-<date>.yml",
    )
    export.add_argument("--actor", default=SYSTEM_ACTOR, help="who to name in the audit log")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status."""
    from bot.db.session import session_scope

    args = _parser().parse_args(argv)
    if args.out == STDOUT:
        with session_scope() as session:
            text, _ = reviewed_nlu(session=session, destination="standard output", actor=args.actor)
        sys.stdout.write(text)
        return 0
    path = Path(args.out) if args.out else default_export_path(utcnow().date())
    try:
        with session_scope() as session:
            written = export_nlu(session=session, path=path, actor=args.actor)
    except ExportError as error:
        sys.stderr.write(f"{error}\n")
        return 1
    sys.stdout.write(export_summary(written, path) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
