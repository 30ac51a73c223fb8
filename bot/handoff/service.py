"""Taking a conversation over, talking in it, and handing it back (console, Telegram, SMS).

- Take over (from an escalation): the handoff is stored first (one per participant: a
  second staff member is told who has it), the escalation is acknowledged if still open,
  the conversation is paused in Rasa, the participant's requests to talk to a person are
  resolved (they have one now), and the participant is told who will reply. If Rasa
  cannot be paused the handoff is removed again, so the assistant never talks over a person
  who thinks they have the conversation.
- Talk: only the staff member who has the conversation may write in it; each text reaches
  the participant on their own channel (bot.handoff.participants) and is logged with who
  typed it.
- Hand back (any care-team member: the holder may have gone home): Rasa is resumed first
  (if that fails the handoff stays, so the participant is never left with nobody), then the
  handoff is ended and the participant is told the assistant is back.

Every step is audited (`handoff.*`, staff language only).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session

from bot.clients.rasa_http import RasaApiError, RasaHttpApi
from bot.clients.telegram_bot import TelegramClient
from bot.core.settings import Settings, get_settings
from bot.db.models import Escalation, Participant, StaffUser
from bot.db.session import in_session_async
from bot.db.types import utcnow
from bot.escalation.queue import acknowledge, resolve_handoff_requests
from bot.handoff import repository
from bot.handoff.participants import ParticipantMessenger
from bot.handoff.repository import HandoffView
from bot.messaging.delivery import Outcome
from bot.staff import audit
from bot.staff.auth import get_user_by_username
from bot.staff.permissions import NotAllowed, Permission, allows
from bot.study.config import current_study
from bot.study.wording import messages

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_STAFF_MESSAGE_CHARACTERS = 1600
START, END, MESSAGE = "handoff.start", "handoff.end", "handoff.message"


class HandoffError(Exception):
    """A handoff request that cannot be done; the message is for the staff member."""


@dataclass(frozen=True)
class TakeOver:
    """The handoff, and whether this call started it (False: the caller had it already)."""

    handoff: HandoffView
    started: bool


def _actor(session: Session, username: str) -> StaffUser:
    """The active staff user acting, if their role may act on escalations."""
    user = get_user_by_username(session=session, username=username)
    if user is None or not user.active or not allows(user.role, Permission.ACT_ON_ESCALATIONS):
        raise NotAllowed(f"{username!r} may not take over conversations")
    return user


def _wording(key: str, staff_name: str, language: str) -> list[str]:
    return messages(current_study(), key, language=language, staff_name=staff_name)


class Handoffs:
    """Take over, talk and hand back, over Rasa's HTTP API and the participant's channel."""

    def __init__(self, *, rasa: RasaHttpApi, messenger: ParticipantMessenger) -> None:
        self._rasa = rasa
        self._messenger = messenger

    async def take_over(self, *, escalation_id: int, actor: str, via: str) -> TakeOver:
        """Take over the conversation of an escalation's participant; HandoffError says why not."""
        claim = await in_session_async(
            lambda session: self._claim(session, escalation_id, actor, via)
        )
        if not claim.started:
            return claim
        handoff = claim.handoff
        try:
            await self._rasa.pause(handoff.sender_id)
        except RasaApiError as error:
            reason = str(error)
            await in_session_async(
                lambda session: self._undo_claim(session, handoff, actor, reason)
            )
            raise HandoffError(
                f"The assistant could not be paused: {reason}. Try again."
            ) from error
        await in_session_async(
            lambda session: resolve_handoff_requests(
                session=session,
                participant_id=handoff.participant_id,
                actor=actor,
                via=via,
                handoff_id=handoff.handoff_id,
            )
        )
        await self._tell_participant(handoff, "handoff_started")
        logger.info(
            "handoff %s: staff user %s took over participant %s via %s",
            handoff.handoff_id,
            handoff.staff_user_id,
            handoff.participant_id,
            via,
        )
        return claim

    async def hand_back(self, *, handoff_id: int, actor: str, via: str) -> HandoffView:
        """Give the conversation back to the assistant; HandoffError if it cannot be done."""
        handoff = await in_session_async(lambda session: self._active(session, handoff_id, actor))
        try:
            await self._rasa.resume(handoff.sender_id)
        except RasaApiError as error:
            raise HandoffError(
                f"The assistant could not be resumed: {error}. Try again."
            ) from error
        ended = await in_session_async(lambda session: self._end(session, handoff, actor, via))
        if ended:
            await self._tell_participant(handoff, "handoff_ended")
            logger.info("handoff %s handed back via %s", handoff.handoff_id, via)
        return handoff

    async def send(self, *, handoff_id: int, actor: str, text: str, via: str) -> list[Outcome]:
        """Send a staff member's message to the participant of their handoff."""
        text = text.strip()
        if not text:
            raise HandoffError("Write a message first.")
        if len(text) > MAX_STAFF_MESSAGE_CHARACTERS:
            raise HandoffError(
                f"A message can be at most {MAX_STAFF_MESSAGE_CHARACTERS} characters."
            )
        handoff = await in_session_async(lambda session: self._held_by(session, handoff_id, actor))
        participant = await in_session_async(
            lambda session: session.get(Participant, handoff.participant_id)
        )
        if participant is None:
            raise HandoffError("The participant is no longer enrolled.")
        outcomes = await self._messenger.send(participant, [text], sent_by=handoff.staff_username)
        log_ids = ", ".join(str(outcome.log_id) for outcome in outcomes)
        await in_session_async(
            lambda session: audit.record(
                session=session,
                actor=actor,
                action=MESSAGE,
                participant_id=handoff.participant_id,
                escalation_id=handoff.escalation_id,
                detail=f"handoff {handoff.handoff_id}: message sent via {via} (log {log_ids})",
            )
        )
        logger.info("handoff %s: staff message sent (log %s)", handoff.handoff_id, log_ids)
        return outcomes

    # --- steps in the database ------------------------------------------------------

    def _claim(self, session: Session, escalation_id: int, actor: str, via: str) -> TakeOver:
        user = _actor(session, actor)
        escalation = session.get(Escalation, escalation_id)
        if escalation is None:
            raise HandoffError("There is no such escalation.")
        participant_id = escalation.participant_id
        current = repository.active_handoff(session=session, participant_id=participant_id)
        if current is not None:
            if current.staff_user_id == user.id:
                return TakeOver(current, started=False)
            raise HandoffError(f"{current.staff_name} is already talking with {current.study_id}.")
        acknowledge(session=session, escalation_id=escalation_id, actor=actor, via=via)
        handoff_id = repository.start_handoff(
            session=session,
            participant_id=participant_id,
            staff_user_id=user.id,
            escalation_id=escalation_id,
            via=via,
            now=utcnow(),
        )
        handoff = (
            repository.get_handoff(session=session, handoff_id=handoff_id) if handoff_id else None
        )
        if handoff is None:
            raise HandoffError("Someone else has just taken over this conversation.")
        audit.record(
            session=session,
            actor=actor,
            action=START,
            participant_id=participant_id,
            escalation_id=escalation_id,
            detail=f"handoff {handoff.handoff_id} started via {via}",
        )
        return TakeOver(handoff, started=True)

    @staticmethod
    def _undo_claim(session: Session, handoff: HandoffView, actor: str, reason: str) -> None:
        repository.forget_handoff(session=session, handoff_id=handoff.handoff_id)
        audit.record(
            session=session,
            actor=actor,
            action=START,
            participant_id=handoff.participant_id,
            escalation_id=handoff.escalation_id,
            detail=f"handoff {handoff.handoff_id} not started: {reason}",
        )

    @staticmethod
    def _active(session: Session, handoff_id: int, actor: str) -> HandoffView:
        _actor(session, actor)
        handoff = repository.get_handoff(session=session, handoff_id=handoff_id)
        if handoff is None:
            raise HandoffError("There is no such handoff.")
        if not handoff.active:
            raise HandoffError(f"{handoff.study_id} was already handed back to the assistant.")
        return handoff

    def _held_by(self, session: Session, handoff_id: int, actor: str) -> HandoffView:
        handoff = self._active(session, handoff_id, actor)
        if handoff.staff_username != actor:
            raise HandoffError(f"{handoff.staff_name} is talking with {handoff.study_id}.")
        return handoff

    @staticmethod
    def _end(session: Session, handoff: HandoffView, actor: str, via: str) -> bool:
        ended = repository.end_handoff(
            session=session, handoff_id=handoff.handoff_id, ended_by=actor, now=utcnow()
        )
        if ended:
            audit.record(
                session=session,
                actor=actor,
                action=END,
                participant_id=handoff.participant_id,
                escalation_id=handoff.escalation_id,
                detail=f"handoff {handoff.handoff_id} handed back via {via}",
            )
        return ended

    async def _tell_participant(self, handoff: HandoffView, key: str) -> None:
        participant = await in_session_async(
            lambda session: session.get(Participant, handoff.participant_id)
        )
        if participant is None:
            return
        texts: Sequence[str] = _wording(key, handoff.staff_name, participant.language)
        await self._messenger.send(participant, texts)


@asynccontextmanager
async def open_handoffs(
    settings: Settings | None = None, *, telegram: TelegramClient | None = None
) -> AsyncIterator[Handoffs]:
    """Handoffs over RASA_URL and the enabled channels (a Telegram client may be shared)."""
    settings = settings or get_settings()
    rasa = RasaHttpApi.from_settings(settings)
    messenger = ParticipantMessenger.from_settings(settings, telegram=telegram)
    try:
        yield Handoffs(rasa=rasa, messenger=messenger)
    finally:
        await messenger.aclose()
