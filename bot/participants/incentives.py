"""The incentive ledger: what each participant has earned under the study's rules, and paid.

Rules come from the study config (`compensation`): `per_visit` and `travel` for each
clinic visit (not the ones at home) that staff mark done, and each bonus when its visit is
done (or, for a bonus by week, that many weeks after enrollment while still active). An
entry is written once per participant and reason (`visit:week_4`, `travel:week_4`,
`bonus:week_12`), so accruing again is harmless. Staff mark entries paid in the console.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.db.models import (
    Appointment,
    AppointmentStatus,
    IncentiveEntry,
    LedgerStatus,
    Participant,
    ParticipantStatus,
)
from bot.db.types import utcnow
from bot.study.config import StudyConfig

logger = logging.getLogger(__name__)

BONUS_PREFIX = "bonus:"


@dataclass(frozen=True)
class Earned:
    """One amount a participant has earned, and why (staff language)."""

    reason_key: str
    description: str
    amount_cents: int

    @property
    def is_bonus(self) -> bool:
        """True for a milestone bonus (the participant is thanked for those)."""
        return self.reason_key.startswith(BONUS_PREFIX)


def _cents(amount: float) -> int:
    return round(amount * 100)


def earned(
    *, study: StudyConfig, participant: Participant, done_visits: set[str], now: datetime
) -> list[Earned]:
    """Everything the study's rules say this participant has earned so far."""
    money = study.compensation
    visit_names = {visit.key: visit.name for visit in study.visits}
    items: list[Earned] = []
    for visit in study.visits:
        if visit.at_home or visit.key not in done_visits:
            continue
        if money.per_visit:
            items.append(
                Earned(f"visit:{visit.key}", f"{visit.name} done", _cents(money.per_visit))
            )
        if money.travel:
            items.append(
                Earned(f"travel:{visit.key}", f"Travel for {visit.name}", _cents(money.travel))
            )
    active = participant.status is ParticipantStatus.ACTIVE
    for bonus in money.bonuses:
        if bonus.visit:
            reached = bonus.visit in done_visits
            key, name = bonus.visit, visit_names.get(bonus.visit, bonus.visit)
        else:
            weeks = bonus.week or 0
            reached = active and now >= participant.enrolled_at + timedelta(weeks=weeks)
            key, name = f"week_{weeks}", f"Week {weeks}"
        if reached:
            description = f"Bonus: {bonus.reason or name}"
            items.append(Earned(f"{BONUS_PREFIX}{key}", description, _cents(bonus.amount)))
    return items


def done_visit_keys(*, session: Session, participant_id: int) -> set[str]:
    """The visits staff have marked done for this participant."""
    rows = session.execute(
        select(Appointment.visit_key).where(
            Appointment.participant_id == participant_id,
            Appointment.status == AppointmentStatus.DONE,
        )
    ).scalars()
    return set(rows)


def accrue(
    *, session: Session, study: StudyConfig, participant: Participant, now: datetime | None = None
) -> list[IncentiveEntry]:
    """Write the ledger entries the participant has newly earned; returns the new ones."""
    now = now or utcnow()
    existing = set(
        session.execute(
            select(IncentiveEntry.reason_key).where(IncentiveEntry.participant_id == participant.id)
        ).scalars()
    )
    done = done_visit_keys(session=session, participant_id=participant.id)
    new = []
    for item in earned(study=study, participant=participant, done_visits=done, now=now):
        if item.reason_key in existing:
            continue
        entry = IncentiveEntry(
            participant_id=participant.id,
            reason_key=item.reason_key,
            description=item.description,
            amount_cents=item.amount_cents,
            currency=study.compensation.currency,
            earned_at=now,
        )
        session.add(entry)
        new.append(entry)
    session.flush()
    for entry in new:
        logger.info("ledger: participant %s earned %s", participant.id, entry.reason_key)
    return new


def mark_paid(*, session: Session, entry_id: int, actor: str) -> bool:
    """Mark an owed entry paid by `actor`; False if it was paid already (or does not exist)."""
    result = session.execute(
        update(IncentiveEntry)
        .where(IncentiveEntry.id == entry_id, IncentiveEntry.status == LedgerStatus.OWED)
        .values(status=LedgerStatus.PAID, paid_at=utcnow(), paid_by=actor)
    )
    return bool(result.rowcount)


def set_visit_status(
    *, session: Session, appointment_id: int, status: AppointmentStatus
) -> Appointment | None:
    """Record how a planned visit went (done, missed, cancelled)."""
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        return None
    appointment.status = status
    session.flush()
    return appointment


def money(amount_cents: int, currency: str = "$") -> str:
    """An amount for people to read: $75, $12.50."""
    whole, cents = divmod(amount_cents, 100)
    return f"{currency}{whole:,}" if cents == 0 else f"{currency}{whole:,}.{cents:02d}"
