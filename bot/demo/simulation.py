"""Demo data: weeks of simulated participants, for the console and the report to show.

Twelve participants (DEMO-001 to DEMO-012, on SMS and Telegram, enrolled through
bot.participants.enrollment so their fictional numbers, 555-01xx, and chat IDs are
encrypted like real ones) get a daily check-in prompt at their check-in time, as the
outreach scheduler would send it: a `scheduled_messages` row marked sent, and the
message in the log. Each answers or not by a profile (some drift away and end up flagged
at risk), reports symptoms that stay, improve or get worse (with the escalations the
study's alert rules call for), and says whether they took their dose. Along the way: an
emergency, a question for the care team, a request for a person, a withdrawal, an SMS
opt-out, feedback ratings, visits done and the incentives they earned. Staff
acknowledged most escalations, some late.

Deterministic for a seed and a `now`; refuses to run twice (it skips when DEMO
participants exist). It never writes Rasa's `events` table.

    python -m bot.demo.simulation [--seed N]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.actions.checkin import FEELING_WORDS, FEELING_WORDS_ES, read_feeling, read_medicine
from bot.actions.symptoms import symptom_label
from bot.core.languages import ENGLISH, SPANISH
from bot.db.models import (
    Appointment,
    AppointmentStatus,
    Channel,
    Checkin,
    CheckinStatus,
    Direction,
    DoseReport,
    Escalation,
    EscalationLevel,
    EscalationStatus,
    EscalationType,
    Feedback,
    IncentiveEntry,
    LedgerStatus,
    MessageLog,
    OutreachStatus,
    Participant,
    ParticipantStatus,
    ScheduledMessage,
    SymptomReport,
)
from bot.db.types import utcnow
from bot.escalation.records import raise_or_merge
from bot.escalation.rules import decide
from bot.outreach.repository import Kind
from bot.participants.enrollment import enroll, link_telegram_chat
from bot.staff import audit
from bot.staff.audit import SYSTEM_ACTOR, AuditAction
from bot.study.config import StudyConfig
from bot.study.pro_ctcae import Attribute
from bot.study.pro_ctcae import label as scale_label
from bot.study.wording import messages

logger = logging.getLogger(__name__)

DEMO_PREFIX = "DEMO-"
DEFAULT_SEED = 24
DEMO_NURSE = "demo.nurse"
DEMO_COORDINATOR = "demo.coordinator"
EVENT_TIME = time(11, 0)
FEEDBACK_DAY = 28
# Escalations older than this were resolved by staff; newer ones may still be open.
RESOLVED_AFTER = timedelta(days=2)
PAID_AFTER = timedelta(days=7)
LONGEST_REPLY = timedelta(hours=10)
RESOLUTION_NOTE = "Called the participant and followed the study protocol."

# The check-in's own scale (1 Very bad ... 5 Great) and words: a demo participant who
# says "great" is stored as 5, exactly as the check-in form would store it.
FEELING_SAID = {
    value: next(w for w, v in FEELING_WORDS.items() if v == value) for value in range(1, 6)
}
# Mostly good days, some OK, now and then a bad one.
FEELINGS = (5, 4, 4, 4, 3, 3, 2)
OPENERS = ("check in", "ok", "hi", "yes", "ready", "ok go", "hello")
DOSE_WORDS = {"yes": ("yes", "yep", "yes i did"), "no": ("no", "forgot"), "some": ("some",)}
FEELING_SAID_ES = {
    value: next(w for w, v in FEELING_WORDS_ES.items() if v == value) for value in range(1, 6)
}


@dataclass(frozen=True)
class SymptomCourse:
    """A symptom a participant reports now and then, its grade moving from start to end."""

    symptom: str
    start_grade: int
    end_grade: int
    chance: float


@dataclass(frozen=True)
class Event:
    """Something a participant does on one day of the study, besides checking in."""

    day: int
    kind: str  # emergency, question, handoff, faq, new_number, withdraw, opt_out, unclear
    text: str | None = None  # what they sent, for "unclear" (others: EVENT_MESSAGES)


# What real participants send that the assistant was not built for: the model is unsure of
# most (the NLU review queue's examples; one carries a phone number to be masked) and
# sure, wrongly, of the last (a case for the intent filter).
UNCLEAR_MESSAGES = (
    "the card they gave me dont work at the store",
    "im at my sisters this week",
    "where do i put the used ones",
    "call me at 773-555-0144 after 5 pls",
    "the pharmacy said they dont have it",
    "do i keep the empty ones",
    "what do i do with the old inhalers",
    "can my wife come in with me next time",
)


def _unclear(day: int, which: int) -> Event:
    return Event(day, "unclear", UNCLEAR_MESSAGES[which])


# What Spanish-speaking participants send that the assistant was not built for.
UNCLEAR_MESSAGES_ES = (
    "la tarjeta q me dieron no pasa en la tienda",
    "esta semana ando en casa de mi hija",
    "donde tiro las bombitas usadas",
)


def _unclear_es(day: int, which: int) -> Event:
    return Event(day, "unclear", UNCLEAR_MESSAGES_ES[which])


@dataclass(frozen=True)
class Profile:
    """How one simulated participant behaves."""

    number: int
    channel: Channel
    timezone: str
    address: str
    enrolled_days_ago: int
    answer_rate: float
    drift_per_week: float
    reply_minutes: float
    symptoms: tuple[SymptomCourse, ...] = ()
    events: tuple[Event, ...] = ()
    quiet_last_days: int = 0
    adherence: float = 0.9
    rating: tuple[int, str | None] | None = None
    feedback_day: int = FEEDBACK_DAY
    language: str = ENGLISH

    @property
    def study_id(self) -> str:
        """DEMO-001 and so on."""
        return f"{DEMO_PREFIX}{self.number:03d}"


def _course(symptom: str, start: int, end: int, chance: float) -> SymptomCourse:
    return SymptomCourse(symptom, start, end, chance)


SMS, TELEGRAM = Channel.SMS, Channel.TELEGRAM
CHICAGO, NEW_YORK, DENVER = "America/Chicago", "America/New_York", "America/Denver"
PHOENIX, LOS_ANGELES = "America/Phoenix", "America/Los_Angeles"

# Phone numbers in the 555-01xx range kept for fiction; chat IDs made up.
PROFILES = (
    Profile(1, SMS, CHICAGO, "+13125550120", 42, 0.95, 0.0, 15,
            (_course("cough", 1, 1, 0.2),), rating=(5, "The reminders help me a lot.")),
    Profile(2, SMS, NEW_YORK, "+12125550121", 42, 0.9, 0.0, 40,
            (_course("hoarseness", 0, 1, 0.15), _course("dry_mouth", 1, 1, 0.15)),
            (Event(15, "new_number"), Event(9, "faq"), _unclear(27, 0)), rating=(4, None)),
    Profile(3, TELEGRAM, CHICAGO, "7100000301", 42, 0.88, 0.02, 8,
            (_course("shortness_of_breath", 1, 3, 0.35),), (_unclear(6, 1),),
            rating=(4, "Easy to use.")),
    Profile(4, SMS, DENVER, "+17205550123", 42, 0.85, 0.1, 90,
            (_course("fatigue", 2, 2, 0.3),), quiet_last_days=5, adherence=0.7),
    Profile(5, TELEGRAM, LOS_ANGELES, "7100000305", 35, 0.9, 0.0, 20,
            (_course("headache", 1, 0, 0.2),), (Event(20, "emergency"),), rating=(5, None)),
    Profile(6, SMS, CHICAGO, "+17735550125", 42, 0.78, 0.04, 60,
            (_course("palpitations", 0, 2, 0.15),), (Event(10, "question"), _unclear_es(18, 2)),
            rating=(3, "Algunas preguntas son largas."), language=SPANISH),
    Profile(7, SMS, NEW_YORK, "+16465550126", 42, 0.72, 0.08, 120,
            (_course("nausea", 1, 2, 0.25),), (Event(24, "withdraw"),), adherence=0.75,
            rating=(2, "Too many texts."), feedback_day=20),
    Profile(8, TELEGRAM, CHICAGO, "7100000308", 28, 0.95, 0.0, 5,
            (_course("tremor", 0, 1, 0.1),), (Event(12, "handoff"),), rating=(5, None),
            language=SPANISH),
    Profile(9, SMS, PHOENIX, "+16025550128", 42, 0.86, 0.02, 30,
            (_course("wheezing", 2, 1, 0.3),),
            (Event(5, "faq"), _unclear(33, 3), _unclear(36, 4)), rating=(4, None)),
    Profile(10, SMS, CHICAGO, "+13125550129", 42, 0.8, 0.04, 45,
            (_course("sore_throat", 1, 1, 0.15),), (_unclear(22, 5), Event(30, "opt_out")),
            rating=(3, "Texts come at a bad time for me."), feedback_day=21),
    Profile(11, TELEGRAM, NEW_YORK, "7100000311", 21, 0.65, 0.08, 180,
            (_course("sore_throat", 1, 1, 0.2),), quiet_last_days=4, adherence=0.6),
    Profile(12, SMS, LOS_ANGELES, "+14155550131", 14, 0.9, 0.0, 25,
            (_course("cough", 0, 2, 0.25),), (_unclear(4, 6), _unclear(9, 7))),
)  # fmt: skip

EVENT_MESSAGES = {
    "emergency": "my chest hurts real bad and i cant breathe",
    "question": "can i use my old inhaler too on bad days?",
    "handoff": "can i talk to a real person",
    "faq": "what is a placebo",
    "new_number": "this is Mary, my new number is 312-555-0199",
    "withdraw": "i dont want to do the study anymore",
    "opt_out": "STOP",
    "missed_dose": "i forgot my inhaler this morning",
}
EVENT_MESSAGES_ES = {
    "emergency": "me duele mucho el pecho y no puedo respirar",
    "question": "puedo usar mi bomba vieja tmb los dias malos?",
    "handoff": "quiero hablar con una persona",
    "faq": "q es un placebo",
    "new_number": "soy Rosa, mi numero nuevo es 312-555-0198",
    "withdraw": "ya no quiero seguir en el estudio",
    "opt_out": "PARAR",
    "missed_dose": "se me olvido la bomba en la mañana",
}


@dataclass(frozen=True)
class Speech:
    """How a demo participant words their side of the conversation, in their language."""

    openers: tuple[str, ...]
    yes: str
    no: str
    dose_words: dict[str, tuple[str, ...]]
    events: dict[str, str]
    feelings: dict[int, str]


SPEECH = {
    ENGLISH: Speech(OPENERS, "yes", "no", DOSE_WORDS, EVENT_MESSAGES, FEELING_SAID),
    SPANISH: Speech(
        ("chequeo", "ok", "hola", "si", "lista", "ok va", "buenas"),  # as many as OPENERS
        "si",
        "no",
        {"yes": ("si", "sip", "si me la puse"), "no": ("no", "se me olvido"), "some": ("algunas",)},
        EVENT_MESSAGES_ES,
        FEELING_SAID_ES,
    ),
}


@dataclass
class DemoSummary:
    """What was seeded (all zero, and `skipped`, when demo data was already there)."""

    skipped: bool = False
    participants: int = 0
    prompts: int = 0
    messages: int = 0
    checkins: int = 0
    symptom_reports: int = 0
    dose_reports: int = 0
    escalations: int = 0
    feedback: int = 0
    at_risk: list[str] = field(default_factory=list)


@dataclass
class _State:
    """One participant's running state through the simulation."""

    participant: Participant
    profile: Profile
    zone: ZoneInfo
    enrolled_on: date
    missed_in_a_row: int = 0
    last_grades: dict[str, int] = field(default_factory=dict)
    stopped: bool = False


class _Simulation:
    """Writes one demo data set (a seeded random generator, anchored at `now`)."""

    def __init__(self, *, session: Session, study: StudyConfig, seed: int, now: datetime) -> None:
        self.session = session
        self.study = study
        self.rng = random.Random(seed)  # noqa: S311 (a repeatable simulation, not a secret)
        self.now = now
        self.summary = DemoSummary()

    # --- small writers ----------------------------------------------------------------

    def message(self, state: _State, direction: Direction, text: str, at: datetime) -> MessageLog:
        """One message in the log (outbound ones delivered, like a real channel's)."""
        participant = state.participant
        outbound = direction is Direction.OUTBOUND
        status = "received"
        if outbound:
            status = "delivered" if participant.channel is Channel.SMS else "sent"
        entry = MessageLog(
            participant_id=participant.id,
            sender_id=participant.sender_id,
            channel=participant.channel,
            direction=direction,
            text=text,
            delivery_status=status,
            language=participant.language,
            attempts=1 if outbound else 0,
            created_at=at,
            updated_at=at,
        )
        self.session.add(entry)
        self.summary.messages += 1
        return entry

    def say(self, state: _State, key: str, at: datetime, **extra: str) -> datetime:
        """The assistant's wording for a key, a moment after `at`; the time after it."""
        language = state.participant.language
        for text in messages(self.study, key, language=language, **extra):
            at += timedelta(seconds=2)
            self.message(state, Direction.OUTBOUND, text, at)
        return at

    def hear(self, state: _State, text: str, at: datetime) -> tuple[MessageLog, datetime]:
        """The participant's reply, typed a little after `at`."""
        at += timedelta(seconds=self.rng.randint(15, 90))
        return self.message(state, Direction.INBOUND, text, at), at

    def scheduled(
        self, state: _State, kind: Kind, key: str, at: datetime, wording: str
    ) -> ScheduledMessage:
        """A proactive message the scheduler sent at `at`, and its text in the log."""
        row = ScheduledMessage(
            participant_id=state.participant.id,
            kind=kind.value,
            due_at=at,
            dedupe_key=key,
            status=OutreachStatus.SENT,
            detail={},
            attempts=1,
            sent_at=at + timedelta(seconds=3),
            created_at=at - timedelta(days=1),
        )
        self.session.add(row)
        self.say(state, wording, at)
        return row

    def escalate(
        self,
        state: _State,
        *,
        level: EscalationLevel,
        type: EscalationType,
        reason: str,
        at: datetime,
        trigger: MessageLog | None = None,
        concern: str | None = None,
    ) -> Escalation:
        """An escalation raised at `at`, acknowledged (and resolved) as staff would have.

        A repeat of a concern staff have not resolved yet updates its item, as in the
        product (bot.escalation.records.raise_or_merge): no new row, no new response.
        """
        if trigger is not None:
            self.session.flush()
        raised = raise_or_merge(
            session=self.session,
            participant_id=state.participant.id,
            level=level,
            type=type,
            reason=reason,
            message_log_id=trigger.id if trigger is not None else None,
            concern=concern,
        )
        escalation = raised.escalation
        if raised.merged:
            escalation.updated_at = at
            return escalation
        escalation.created_at = at
        if raised.superseded is not None:
            raised.superseded.resolved_at = raised.superseded.updated_at = at
        self._staff_response(escalation, at)
        self.summary.escalations += 1
        return escalation

    def _ack_delay(self, level: EscalationLevel) -> timedelta:
        """How long staff took to acknowledge (a few were late)."""
        if level is EscalationLevel.EMERGENCY:
            return timedelta(minutes=self.rng.uniform(1.5, 7))
        if level is EscalationLevel.URGENT:
            return timedelta(minutes=self.rng.choice((4, 6, 9, 12, 14, 22, 35)))
        return timedelta(hours=self.rng.choice((1, 3, 5, 9, 16, 20, 30)))

    def _staff_response(self, escalation: Escalation, at: datetime) -> None:
        """Acknowledged after a while (recent ones maybe not yet); older ones resolved."""
        acknowledged_at = at + self._ack_delay(escalation.level)
        recent = self.now - at < RESOLVED_AFTER
        if acknowledged_at > self.now or (recent and self.rng.random() < 0.4):
            return
        escalation.status = EscalationStatus.ACKNOWLEDGED
        escalation.acknowledged_by = DEMO_NURSE
        escalation.acknowledged_at = acknowledged_at
        if not recent:
            escalation.status = EscalationStatus.RESOLVED
            escalation.resolved_by = DEMO_NURSE
            escalation.resolved_at = acknowledged_at + timedelta(hours=self.rng.randint(1, 20))
            escalation.resolution_note = RESOLUTION_NOTE

    # --- enrolling --------------------------------------------------------------------

    def enroll(self, profile: Profile) -> _State:
        """Enroll the participant as staff would (address encrypted), back-dated."""
        zone = ZoneInfo(profile.timezone)
        enrolled_on = self.now.astimezone(zone).date() - timedelta(days=profile.enrolled_days_ago)
        sms = profile.channel is Channel.SMS
        result = enroll(
            session=self.session,
            study=self.study,
            study_id=profile.study_id,
            channel=profile.channel,
            timezone_name=profile.timezone,
            phone=profile.address if sms else None,
            language=profile.language,
            enrolled_on=enrolled_on,
        )
        participant = result.participant
        if result.enrollment_code:
            link_telegram_chat(
                session=self.session, code=result.enrollment_code, chat_id=profile.address
            )
        enrolled_at = datetime.combine(enrolled_on, time(12, 0), tzinfo=zone)
        participant.enrolled_at = enrolled_at.astimezone(timezone.utc)
        participant.created_at = participant.enrolled_at
        self.summary.participants += 1
        return _State(participant, profile, zone, enrolled_on)

    def local(self, state: _State, day: int, clock: time) -> datetime:
        """A local wall-clock time on a study day, in UTC."""
        moment = datetime.combine(state.enrolled_on + timedelta(days=day), clock, tzinfo=state.zone)
        return moment.astimezone(timezone.utc)

    # --- a day ------------------------------------------------------------------------

    def answer_chance(self, state: _State, day: int) -> float:
        """How likely they are to answer today's prompt."""
        profile = state.profile
        last_day = profile.enrolled_days_ago - 1
        if profile.quiet_last_days and day > last_day - profile.quiet_last_days:
            return 0.0
        return max(profile.answer_rate - profile.drift_per_week * day / 7, 0.05)

    def simulate_day(self, state: _State, day: int) -> None:
        """Dose reminder, events, then the evening check-in prompt and what came of it."""
        local_day = state.enrolled_on + timedelta(days=day)
        reminders = self.study.dose_reminders
        for clock in reminders.times if reminders.enabled else []:
            key = f"dose:{state.participant.id}:{local_day.isoformat()}:{clock:%H%M}"
            at = self.local(state, day, clock)
            self.scheduled(state, Kind.DOSE_REMINDER, key, at, "dose_reminder")
        for event in state.profile.events:
            if event.day == day:
                self.event(state, event, self.local(state, day, EVENT_TIME))
        if state.stopped:
            return
        self.prompt(state, day, local_day)

    def prompt(self, state: _State, day: int, local_day: date) -> None:
        """Today's check-in prompt; the at-risk flag is judged when it goes out."""
        clock = state.participant.preferred_contact_time or self.study.checkins.default_time
        at = self.local(state, day, clock)
        self.judge_risk(state, at)
        key = f"checkin:{state.participant.id}:{local_day.isoformat()}"
        prompt = self.scheduled(state, Kind.CHECKIN_PROMPT, key, at, "checkin_prompt")
        self.summary.prompts += 1
        delay = timedelta(minutes=min(self.rng.expovariate(1 / state.profile.reply_minutes), 600))
        reply_at = at + timedelta(minutes=1) + delay
        answered = self.rng.random() < self.answer_chance(state, day)
        nudge_after = timedelta(minutes=self.study.checkins.nudge_after_minutes)
        if (not answered or delay > nudge_after) and at + nudge_after < self.now:
            self.session.flush()
            nudge_key = f"nudge:{prompt.id}"
            self.scheduled(state, Kind.CHECKIN_NUDGE, nudge_key, at + nudge_after, "checkin_nudge")
        if answered and reply_at + timedelta(minutes=10) < self.now:
            self.checkin(state, day, reply_at)
            return
        state.missed_in_a_row += 1
        if self.rng.random() < 0.06:
            self.missed_dose(state, at + timedelta(hours=1))

    def judge_risk(self, state: _State, at: datetime) -> None:
        """Flag them (and tell staff once) after too many missed check-ins in a row."""
        participant = state.participant
        threshold = self.study.checkins.missed_in_a_row_for_risk
        if state.missed_in_a_row < threshold or participant.at_risk_since is not None:
            return
        participant.at_risk_since = at
        self.escalate(
            state,
            level=EscalationLevel.ROUTINE,
            type=EscalationType.OTHER,
            reason=f"missed {state.missed_in_a_row} check-ins in a row: at risk of dropping out",
            at=at,
        )

    # --- a check-in -------------------------------------------------------------------

    def checkin(self, state: _State, day: int, start: datetime) -> None:
        """A completed check-in: feeling, new problems (graded), medicine, question."""
        speech = SPEECH[state.profile.language]
        _, at = self.hear(state, self.rng.choice(speech.openers), start - timedelta(seconds=30))
        checkin = Checkin(
            participant_id=state.participant.id, status=CheckinStatus.IN_PROGRESS, started_at=at
        )
        self.session.add(checkin)
        self.session.flush()
        at = self.say(state, "ask_checkin_feeling", at)
        feeling = self.rng.choice(FEELINGS)
        said = self.rng.choice((str(feeling), speech.feelings[feeling]))
        if read_feeling(said) != feeling:  # the demo speaks the product's vocabulary
            raise AssertionError(f"the check-in would read {said!r} as {read_feeling(said)}")
        _, at = self.hear(state, said, at)
        today = [course for course in state.profile.symptoms if self.rng.random() < course.chance]
        at = self.say(state, "ask_checkin_new_problem", at)
        _, at = self.hear(state, speech.yes if today else speech.no, at)
        for course in today:
            at = self.symptom(state, checkin, course, day, at)
        at = self.say(state, "ask_checkin_medicine", at)
        taken = self.dose_answer(state)
        said = self.rng.choice(speech.dose_words[taken])
        if read_medicine(said) != taken:
            raise AssertionError(f"the check-in would read {said!r} as {read_medicine(said)}")
        _, at = self.hear(state, said, at)
        self.session.add(
            DoseReport(
                participant_id=state.participant.id,
                checkin_id=checkin.id,
                taken=taken,
                source="checkin",
                reported_at=at,
            )
        )
        self.summary.dose_reports += 1
        at = self.say(state, "ask_checkin_question", at)
        _, at = self.hear(state, speech.no, at)
        at = self.say(state, "checkin_done", at)
        checkin.status = CheckinStatus.COMPLETED
        checkin.overall_feeling = feeling
        checkin.new_problem = bool(today)
        checkin.took_medicine = taken
        checkin.completed_at = at
        self.summary.checkins += 1
        state.missed_in_a_row = 0
        state.participant.at_risk_since = None

    def dose_answer(self, state: _State) -> str:
        """Whether they took today's dose: yes, mostly."""
        if self.rng.random() < state.profile.adherence:
            return "yes"
        return self.rng.choice(("no", "no", "some"))

    def grade(self, state: _State, course: SymptomCourse, day: int) -> int:
        """The symptom's grade today: its course, give or take a point."""
        span = max(state.profile.enrolled_days_ago - 1, 1)
        trend = course.start_grade + (course.end_grade - course.start_grade) * day / span
        noise = self.rng.choice((-1, 0, 0, 0, 0, 1))
        return min(max(round(trend) + noise, 0), 4)

    def symptom(
        self, state: _State, checkin: Checkin, course: SymptomCourse, day: int, at: datetime
    ) -> datetime:
        """One symptom asked about and graded; an escalation when the rules call for one."""
        language = state.profile.language
        label = symptom_label(course.symptom, language)
        at = self.say(state, "ask_symptom_severity", at, symptom=label)
        grade = self.grade(state, course, day)
        answer = self.rng.choice((str(grade), scale_label(Attribute.SEVERITY, grade, language)))
        reply, at = self.hear(state, answer, at)
        self.session.add(
            SymptomReport(
                participant_id=state.participant.id,
                checkin_id=checkin.id,
                symptom=course.symptom,
                severity=grade,
                grade=grade,
                raw_answer=answer,
                reported_at=at,
            )
        )
        self.summary.symptom_reports += 1
        decision = decide(
            symptom=course.symptom,
            grade=grade,
            previous_grade=state.last_grades.get(course.symptom),
            rules=self.study.escalation,
        )
        state.last_grades[course.symptom] = grade
        if decision.level is None:
            return self.say(state, "symptom_noted", at)
        self.escalate(
            state,
            level=decision.level,
            type=EscalationType.SYMPTOM,
            reason=decision.reason,
            at=at,
            trigger=reply,
            concern=course.symptom,
        )
        urgent = decision.level is EscalationLevel.URGENT
        return self.say(state, "symptom_urgent" if urgent else "symptom_routine", at)

    def missed_dose(self, state: _State, at: datetime) -> None:
        """They write that they missed a dose."""
        said = SPEECH[state.profile.language].events["missed_dose"]
        self.message(state, Direction.INBOUND, said, at)
        self.session.add(
            DoseReport(
                participant_id=state.participant.id, taken="no", source="message", reported_at=at
            )
        )
        self.summary.dose_reports += 1
        self.say(state, "missed_dose", at)

    # --- events -----------------------------------------------------------------------

    def event(self, state: _State, event: Event, at: datetime) -> None:
        """One of the profile's events, as the conversation would have gone."""
        text = event.text or SPEECH[state.profile.language].events[event.kind]
        trigger = self.message(state, Direction.INBOUND, text, at)
        handlers = {
            "emergency": self.emergency,
            "question": self.question,
            "handoff": self.handoff,
            "faq": self.faq,
            "new_number": self.new_number,
            "withdraw": self.withdraw,
            "opt_out": self.opt_out,
            "unclear": self.unclear,
        }
        handlers[event.kind](state, trigger, at)

    def unclear(self, state: _State, trigger: MessageLog, at: datetime) -> None:
        """A message the assistant did not understand: the fallback, with the main options."""
        self.say(state, "fallback", at)

    def emergency(self, state: _State, trigger: MessageLog, at: datetime) -> None:
        """Red flags: the emergency reply, and an emergency escalation."""
        self.say(state, "emergency", at)
        self.escalate(
            state,
            level=EscalationLevel.EMERGENCY,
            type=EscalationType.EMERGENCY,
            reason="red flag: chest pain, trouble breathing",
            at=at,
            trigger=trigger,
        )

    def question(self, state: _State, trigger: MessageLog, at: datetime) -> None:
        """A treatment question: no advice, passed to the care team."""
        at = self.say(state, "medical_advice", at)
        _, at = self.hear(state, SPEECH[state.profile.language].yes, at)
        self.say(state, "medical_advice_passed", at)
        self.escalate(
            state,
            level=EscalationLevel.ROUTINE,
            type=EscalationType.QUESTION,
            reason="asked a question about their treatment or medicines (no advice given)",
            at=at,
            trigger=trigger,
        )

    def handoff(self, state: _State, trigger: MessageLog, at: datetime) -> None:
        """They ask for a person."""
        self.say(state, "handoff_requested", at)
        self.escalate(
            state,
            level=EscalationLevel.URGENT,
            type=EscalationType.HANDOFF,
            reason="asked to talk to a person",
            at=at,
            trigger=trigger,
        )

    def faq(self, state: _State, trigger: MessageLog, at: datetime) -> None:
        """A question about the study, answered from the study config."""
        for text in self.study.faq_answer("placebo", language=state.profile.language) or []:
            at += timedelta(seconds=2)
            self.message(state, Direction.OUTBOUND, text, at)

    def new_number(self, state: _State, trigger: MessageLog, at: datetime) -> None:
        """They send personal details (masked in exports and reviews)."""
        self.say(state, "contact_person", at)

    def withdraw(self, state: _State, trigger: MessageLog, at: datetime) -> None:
        """They want to leave: no pressure, staff told; staff record the withdrawal."""
        at = self.say(state, "withdraw", at)
        _, at = self.hear(state, SPEECH[state.profile.language].no, at)
        self.say(state, "withdraw_call_no", at)
        self.escalate(
            state,
            level=EscalationLevel.ROUTINE,
            type=EscalationType.WITHDRAWAL,
            reason="said they want to leave the study",
            at=at,
            trigger=trigger,
        )
        state.participant.status = ParticipantStatus.WITHDRAWN
        state.stopped = True

    def opt_out(self, state: _State, trigger: MessageLog, at: datetime) -> None:
        """SMS STOP: no more messages."""
        self.say(state, "sms_opted_out", at)
        state.participant.opted_out_at = at
        state.stopped = True

    # --- after the days ---------------------------------------------------------------

    def feedback(self, state: _State) -> None:
        """Their rating (asked at week 4, or offered), if they gave one."""
        profile = state.profile
        if profile.rating is None or profile.feedback_day >= profile.enrolled_days_ago:
            return
        at = self.local(state, profile.feedback_day, time(19, 30))
        at = self.say(state, "ask_feedback_rating", at)
        rating, comment = profile.rating
        _, at = self.hear(state, str(rating), at)
        if comment:
            at = self.say(state, "ask_feedback_comment", at)
            _, at = self.hear(state, comment, at)
        self.say(state, "feedback_thanks", at)
        source = "week_4" if profile.feedback_day == FEEDBACK_DAY else "conversation"
        self.session.add(
            Feedback(
                participant_id=state.participant.id,
                rating=rating,
                comment=comment,
                source=source,
                created_at=at,
            )
        )
        self.summary.feedback += 1

    def visits(self, state: _State) -> None:
        """Past visits done (or missed by those who left); clinic visits earn the incentive."""
        appointments = self.session.execute(
            select(Appointment).where(
                Appointment.participant_id == state.participant.id,
                Appointment.scheduled_at < self.now,
            )
        ).scalars()
        visits = {visit.key: visit for visit in self.study.visits}
        for appointment in appointments:
            gone = state.stopped or state.participant.at_risk_since is not None
            recent = self.now - appointment.scheduled_at < timedelta(days=7)
            if gone and recent:
                appointment.status = AppointmentStatus.MISSED
                continue
            appointment.status = AppointmentStatus.DONE
            visit = visits.get(appointment.visit_key)
            if visit is not None and not visit.at_home:
                self.incentive(state, appointment, visit.name)

    def incentive(self, state: _State, appointment: Appointment, name: str) -> None:
        """The visit's payment and travel money in the ledger (paid after a week)."""
        pay = self.study.compensation
        amount = (pay.per_visit or 0) + (pay.travel or 0)
        if amount <= 0:
            return
        paid = self.now - appointment.scheduled_at > PAID_AFTER
        self.session.add(
            IncentiveEntry(
                participant_id=state.participant.id,
                reason_key=f"visit:{appointment.visit_key}",
                description=f"{name} (visit and travel)",
                amount_cents=round(amount * 100),
                currency=pay.currency,
                earned_at=appointment.scheduled_at,
                status=LedgerStatus.PAID if paid else LedgerStatus.OWED,
                paid_at=appointment.scheduled_at + timedelta(days=5) if paid else None,
                paid_by=DEMO_COORDINATOR if paid else None,
            )
        )

    def participant(self, profile: Profile) -> None:
        """One participant from enrollment to yesterday."""
        state = self.enroll(profile)
        for day in range(1, profile.enrolled_days_ago):
            if state.stopped:
                break
            self.simulate_day(state, day)
        self.feedback(state)
        self.visits(state)
        self.session.flush()
        if state.participant.at_risk_since is not None:
            self.summary.at_risk.append(profile.study_id)
        logger.info("demo participant %s seeded", state.participant.id)


def demo_present(*, session: Session) -> bool:
    """True when demo participants exist."""
    found = session.execute(
        select(Participant.id).where(Participant.study_id.startswith(DEMO_PREFIX)).limit(1)
    ).first()
    return found is not None


def seed(
    *,
    session: Session,
    study: StudyConfig,
    seed: int = DEFAULT_SEED,
    now: datetime | None = None,
    profiles: Sequence[Profile] = PROFILES,
) -> DemoSummary:
    """Seed the demo participants (skipped when they exist); flushed, not committed."""
    if demo_present(session=session):
        logger.info("demo data already present: nothing added")
        return DemoSummary(skipped=True)
    simulation = _Simulation(session=session, study=study, seed=seed, now=now or utcnow())
    for profile in profiles:
        simulation.participant(profile)
    summary = simulation.summary
    audit.record(
        session=session,
        actor=SYSTEM_ACTOR,
        action=AuditAction.DEMO_DATA_SEEDED,
        detail=f"{summary.participants} demo participants, seed {seed}",
    )
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Seed the demo data into the configured database (migrated first); 0 on success."""
    from bot.db.session import migrate, session_scope
    from bot.study.config import current_study

    parser = argparse.ArgumentParser(
        prog="trialbot seed-demo", description="Add weeks of simulated participants (once)."
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    args = parser.parse_args(argv)
    migrate()
    with session_scope() as session:
        summary = seed(session=session, study=current_study(), seed=args.seed)
    if summary.skipped:
        sys.stdout.write("Demo data is already there: nothing added.\n")
        return 0
    sys.stdout.write(
        f"Seeded {summary.participants} demo participants: {summary.prompts} check-in prompts, "
        f"{summary.checkins} check-ins, {summary.symptom_reports} symptom reports, "
        f"{summary.escalations} escalations, {summary.messages} messages; "
        f"at risk: {', '.join(summary.at_risk) or 'none'}.\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
