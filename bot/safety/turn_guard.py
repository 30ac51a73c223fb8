"""The last line of defence around every participant turn, on every channel.

Every channel hands a participant's message to Rasa through `guarded(...)`. The guard
reads the message's red flags itself (`bot.safety.detection`: the project's spaCy
pipeline, not the model), watches what the turn sends, and afterwards — whatever the
dialogue did:

1. A red-flag message whose turn did not send the emergency reply (the conversation is
   paused for a person, a policy error, the circuit breaker, the action server down, a
   crash) gets it now, on the same channel; the emergency escalation is stored unless the
   turn stored it. Exactly once per message (`bot.safety.emergency`).
2. A message of a conversation the assistant holds (not paused) that got no reply at all
   gets the short safe reply (`assistant_failed`: the nurse line and the emergency
   number) and a routine escalation, and the incident is logged with the sender's ID.
3. A conversation the turn left not listening is set listening again. (Rasa's circuit
   breaker stops a turn without `action_listen`; it counts actions back to the last
   `action_listen`, so without this every later message of the conversation would trip
   it at once and get no reply.) When the emergency reply was given here, the active
   form is ended, as `action_emergency` would have done.
4. When a staff member has the conversation, they are told the participant wrote
   (`bot.handoff.notify`: a notice with a link, not the words).

Before the turn, a Rasa turn whose replies the outreach worker already sent (a check-in
opening, `bot.outreach.deferred`) and that has not run yet is run first, its replies
collected and not sent, so the participant's answer meets the check-in form. Whether
there is one is read in the same transaction as the participant's language.

What the turn left behind is read cheaply, so a normal turn never loads the tracker a
second time: whether a person has the conversation is one indexed query of the handoffs
table, and whether the conversation listens is one indexed query of the latest action in
Rasa's tracker store (its `events` table, `bot.db.models.tracker_events`), in one
transaction. The tracker itself is loaded only when there is something to make good: a
silent turn (is Rasa's conversation paused without a handoff?), a conversation to repair
(step 3, which checks the tracker again under the conversation's lock), or when those
queries could not answer (another tracker store, a database error).

Nothing here raises into the channel: a failure of one step is logged and the next runs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME, REQUESTED_SLOT
from rasa.shared.core.events import ActionExecuted, ActiveLoop, Event, SlotSet
from sanic import Blueprint, Sanic
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from bot.core.claims import claim_token
from bot.core.languages import DEFAULT_LANGUAGE, LANGUAGE_SLOT
from bot.core.retry import with_retries
from bot.db.models import EscalationLevel, EscalationType, tracker_events
from bot.db.repository import ensure_web_participant, get_participant_by_sender
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.escalation.records import latest_inbound_message_id, raise_escalation
from bot.handoff.notify import notify_staff_of_message
from bot.handoff.repository import in_handoff
from bot.nlp.language import detect_language, metadata_language
from bot.outreach import deferred
from bot.participants.language import LanguageTurn, settle_language
from bot.safety.detection import red_flags_in_text
from bot.safety.emergency import emergency_replies, emergency_texts, record_emergency
from bot.study.config import current_study
from bot.study.wording import messages

logger = logging.getLogger(__name__)

Handler = Callable[[UserMessage], Awaitable[Any]]

NO_REPLY_REASON = "the assistant sent no reply to a message; please check the conversation"
# The claim token of deferred turns run in this process, and how often one another
# process runs is looked at.
DEFERRED_TOKEN = claim_token("rasa-server")
DEFERRED_POLL_SECONDS = 0.05


class WatchedOutput(OutputChannel):
    """The channel's own output, remembering the texts a turn sent through it."""

    def __init__(self, channel: OutputChannel) -> None:
        self.channel = channel
        self.texts: list[str] = []
        self.sent = 0

    def name(self) -> str:
        """The wrapped channel's name (channel-specific responses keep working)."""
        return self.channel.name()

    def _saw(self, text: str | None) -> None:
        self.sent += 1
        if text:
            self.texts.append(text)

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Send a bot message the way the wrapped channel does."""
        text = message.get("text")  # read first: Rasa's send_response pops it
        await self.channel.send_response(recipient_id, message)
        self._saw(text)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Send a text."""
        await self.channel.send_text_message(recipient_id, text, **kwargs)
        self._saw(text)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """Send a text with buttons."""
        await self.channel.send_text_with_buttons(recipient_id, text, buttons, **kwargs)
        self._saw(text)

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """Send a custom payload."""
        await self.channel.send_custom_json(recipient_id, json_message, **kwargs)
        self._saw(None)


@dataclass
class Turn:
    """One participant message as the guard sees it."""

    message: UserMessage
    output: WatchedOutput
    red_flags: list[str] = field(default_factory=list)
    failed: bool = False
    language: str = DEFAULT_LANGUAGE

    @property
    def sender_id(self) -> str:
        """The conversation."""
        return str(self.message.sender_id)

    @property
    def message_id(self) -> str:
        """Rasa's ID of the message (UserUttered.message_id)."""
        return str(self.message.message_id)


@dataclass(frozen=True)
class ConversationState:
    """What the turn left behind in the conversation.

    `in_handoff` is None when the handoffs table could not be read.
    """

    paused: bool = False
    listening: bool = True
    in_handoff: bool | None = False


@dataclass(frozen=True)
class StoredState:
    """What the database says after a turn, without loading the tracker (None: not read)."""

    in_handoff: bool | None = None
    latest_action: str | None = None


def guarded(on_new_message: Handler, blueprint: Blueprint) -> Handler:
    """`on_new_message` inside the turn guard of this module."""
    apps: list[Sanic] = []

    @blueprint.listener("before_server_start")
    async def remember_app(app: Sanic, loop: Any) -> None:
        apps[:] = [app]

    async def handle(message: UserMessage) -> None:
        agent = getattr(apps[0].ctx, "agent", None) if apps else None
        await guard_turn(on_new_message, message, agent)

    return handle


async def guard_turn(on_new_message: Handler, message: UserMessage, agent: Any) -> None:
    """Run one participant turn and make good what it left undone (see the module doc)."""
    turn = Turn(message, WatchedOutput(message.output_channel))
    turn.red_flags = _red_flags(turn)
    settled, waiting = await _settle_language(turn)
    turn.language = settled.language
    if waiting:
        await _step(turn, "deferred turns", _run_deferred(agent, turn, waiting))
    try:
        if settled.changed_to is not None and not turn.red_flags:
            await _send(turn, messages(current_study(), "language_changed", language=turn.language))
        else:
            await on_new_message(_through(turn))
    except Exception:
        turn.failed = True
        logger.exception(
            "conversation %s: the assistant failed on message %s", turn.sender_id, turn.message_id
        )
    state = await _state_after(agent, turn)
    answered_here = False
    if turn.red_flags:
        answered_here = not _emergency_reply_sent(turn)
        await _step(turn, "emergency check", _make_good_emergency(turn))
    elif not turn.output.sent and not state.paused:
        await _step(turn, "safe reply", _make_good_silence(turn))
    # An emergency answered here ends the form, as action_emergency would have (_repair
    # looks whether there is one).
    if answered_here or not state.listening:
        await _step(turn, "conversation repair", _repair(agent, turn, end_form=answered_here))
    if state.in_handoff is not False:  # nobody to tell when no handoff is active
        await _step(turn, "staff notice", notify_staff_of_message(sender_id=turn.sender_id))


def _through(turn: Turn) -> UserMessage:
    """The participant's message, with its replies going through the watched output."""
    original = turn.message
    return UserMessage(
        original.text,
        turn.output,
        original.sender_id,
        original.parse_data,
        original.input_channel,
        original.message_id,
        {**(original.metadata or {}), LANGUAGE_SLOT: turn.language},
    )


async def _settle_language(turn: Turn) -> tuple[LanguageTurn, list[int]]:
    """The turn's language (the participant's; detected or changed by this message), and
    the participant's deferred turns still to run (bot.outreach.deferred).

    Never fails the turn: when the participant's record cannot be read, the channel's
    choice or the text's own language is used, else the default.
    """
    chosen = metadata_language(turn.message.metadata)
    text = turn.message.text or ""
    if text.startswith("/"):  # a button's payload says nothing about the language
        text = ""

    def settle() -> tuple[LanguageTurn, list[int]]:
        with session_scope() as session:
            participant = get_participant_by_sender(session=session, sender_id=turn.sender_id)
            if participant is None:
                participant = ensure_web_participant(session=session, sender_id=turn.sender_id)
            settled = settle_language(
                session=session, participant=participant, text=text, chosen=chosen
            )
            return settled, deferred.waiting_for(session=session, participant_id=participant.id)

    try:
        return await asyncio.to_thread(settle)
    except Exception:
        logger.exception("conversation %s: the language was not settled", turn.sender_id)
        return LanguageTurn(chosen or detect_language(text) or DEFAULT_LANGUAGE), []


async def _run_deferred(agent: Any, turn: Turn, waiting: list[int]) -> None:
    """Run the conversation's deferred turns before its participant's message (module doc):
    each one claimed, then run as Rasa's `trigger_intent` endpoint runs it, under the
    conversation's lock, with its replies collected. One another process holds is waited
    for (up to its lease), so the message never overtakes it."""
    if not _is_rasa_agent(agent):
        return
    for turn_id in waiting:
        now = utcnow()
        claimed = await asyncio.to_thread(
            _in_new_session,
            lambda session, turn_id=turn_id, now=now: deferred.claim(  # type: ignore[misc]
                session=session, turn_id=turn_id, token=DEFERRED_TOKEN, now=now
            ),
        )
        if claimed is None:
            await _wait_settled(turn_id)
            continue
        said: list[dict[str, Any]] | None = None
        note = None
        try:
            collector = CollectingOutputChannel()
            async with agent.lock_store.lock(turn.sender_id):
                tracker = await agent.processor.fetch_tracker_and_update_session(turn.sender_id)
                await agent.trigger_intent(
                    intent_name=claimed.intent,
                    entities=claimed.entities,
                    output_channel=collector,
                    tracker=tracker,
                )
            said = list(collector.messages)
        except Exception as error:
            note = f"failed before message {turn.message_id}: {type(error).__name__}"
            logger.exception("conversation %s: deferred turn %s failed", turn.sender_id, turn_id)
        await asyncio.to_thread(
            _in_new_session,
            lambda session, turn_id=turn_id, said=said, note=note: deferred.finish(  # type: ignore[misc]
                session=session, turn_id=turn_id, token=DEFERRED_TOKEN, said_now=said, note=note
            ),
        )


async def _wait_settled(turn_id: int) -> None:
    """Wait while another process runs a deferred turn (up to its lease)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + deferred.LEASE.total_seconds()
    while loop.time() < until:
        if await asyncio.to_thread(
            _in_new_session, lambda session: deferred.settled(session=session, turn_id=turn_id)
        ):
            return
        await asyncio.sleep(DEFERRED_POLL_SECONDS)
    logger.warning("deferred turn %s still running after its lease; going on", turn_id)


def _in_new_session(work: Callable[[Session], Any]) -> Any:
    with session_scope() as session:
        return work(session)


def _red_flags(turn: Turn) -> list[str]:
    """The red-flag categories of the message (empty for a message with no text)."""
    text = turn.message.text or ""
    if not text.strip() or text.startswith("/"):
        return []
    try:
        return [flag.category for flag in red_flags_in_text(text)]
    except Exception:
        # The same check also runs inside Rasa's NLU (bot.safety.red_flag_guard).
        logger.exception("conversation %s: the red-flag check failed", turn.sender_id)
        return []


async def _step(turn: Turn, what: str, work: Awaitable[Any] | None) -> None:
    """Await one step of the guard; log (never raise) its failure."""
    if work is None:
        return
    try:
        await work
    except Exception:
        logger.exception("conversation %s: turn guard step %r failed", turn.sender_id, what)


def _is_rasa_agent(agent: Any) -> bool:
    """True for Rasa's agent (a channel test's stand-in has no tracker to check)."""
    module = sys.modules.get("rasa.core.agent")
    return module is not None and isinstance(agent, module.Agent)


async def _state_after(agent: Any, turn: Turn) -> ConversationState:
    """Whether a person has the conversation (a handoff, or Rasa's pause), and whether it
    listens; the tracker is loaded only when the database's answer is not enough."""
    rasa = _is_rasa_agent(agent)
    stored = await asyncio.to_thread(_stored_state, turn.sender_id, latest_action=rasa)
    handoff = bool(stored.in_handoff)
    if not rasa:
        return ConversationState(paused=handoff, in_handoff=stored.in_handoff)
    # Rasa's own pause matters only to a silent turn (a paused conversation gets no safe
    # reply); a handoff pauses Rasa too, so then the handoff says it.
    silent = not turn.output.sent and not turn.red_flags
    if stored.latest_action is not None and (handoff or not silent):
        return ConversationState(
            paused=handoff,
            listening=stored.latest_action == ACTION_LISTEN_NAME,
            in_handoff=stored.in_handoff,
        )
    try:
        tracker = await agent.tracker_store.retrieve(turn.sender_id)
    except Exception:
        logger.exception("conversation %s: state after the turn not read", turn.sender_id)
        return ConversationState(paused=handoff, in_handoff=stored.in_handoff)
    if tracker is None:
        return ConversationState(paused=handoff, in_handoff=stored.in_handoff)
    return ConversationState(
        paused=handoff or tracker.is_paused(),
        listening=tracker.latest_action_name == ACTION_LISTEN_NAME,
        in_handoff=stored.in_handoff,
    )


def _stored_state(sender_id: str, *, latest_action: bool) -> StoredState:
    """Whether a handoff is active and (`latest_action`) the name of the conversation's
    latest action in Rasa's tracker store: two indexed queries in one transaction.

    Never raises: what could not be read is None (and the guard loads the tracker).
    """
    handoff: bool | None = None
    try:
        with session_scope() as session:
            handoff = in_handoff(session=session, sender_id=sender_id)
            if not latest_action:
                return StoredState(handoff)
            try:
                return StoredState(handoff, _latest_action(session, sender_id))
            except SQLAlchemyError as error:  # no `events` table: another tracker store
                session.rollback()
                logger.warning(
                    "conversation %s: Rasa's latest action not read (%s): tracker loaded",
                    sender_id,
                    type(error).__name__,
                )
                return StoredState(handoff)
    except Exception:
        logger.exception("conversation %s: the handoffs table was not read", sender_id)
        return StoredState(handoff)


def _latest_action(session: Session, sender_id: str) -> str | None:
    """The name of the conversation's latest action (ActionExecuted) in Rasa's SQL tracker
    store; None when it has none there.

    What `tracker.latest_action_name` says, from one row: only ActionExecuted sets the
    tracker's latest action. (A restart or a new session clears it; Rasa follows both
    with action_listen, and step 3 checks the tracker itself before it changes anything.)
    Rasa's index on `sender_id` finds the conversation's rows; the newest is the turn
    just saved.
    """
    events = tracker_events.c
    row = session.execute(
        select(events.action_name)
        .where(events.sender_id == sender_id, events.type_name == ActionExecuted.type_name)
        .order_by(events.id.desc())
        .limit(1)
    ).first()
    return None if row is None else row.action_name


async def _send(turn: Turn, texts: list[str]) -> None:
    """Send texts to the participant on the turn's channel."""
    for text in texts:
        await turn.output.send_text_message(turn.sender_id, text)


def _emergency_reply_sent(turn: Turn) -> bool:
    """True when the turn sent the emergency reply the message's red flags call for (in
    any language: a reply already given is not given again in the other one)."""
    return any(
        all(text in turn.output.texts for text in texts)
        for texts in emergency_replies(current_study(), turn.red_flags)
    )


async def _make_good_emergency(turn: Turn) -> None:
    """The emergency reply and escalation, for whichever of them the turn did not give."""
    texts = emergency_texts(current_study(), turn.red_flags, turn.language)
    if not _emergency_reply_sent(turn):
        logger.warning(
            "conversation %s: message %s has a red flag and its turn sent no emergency reply: "
            "sent by the channel layer",
            turn.sender_id,
            turn.message_id,
        )
        await _send(turn, texts)
    stored = await asyncio.to_thread(_store_emergency, turn)
    if stored:
        logger.warning(
            "conversation %s: message %s has a red flag and its turn stored no escalation: "
            "emergency escalation %s stored by the channel layer",
            turn.sender_id,
            turn.message_id,
            stored,
        )


async def _make_good_silence(turn: Turn) -> None:
    """A message with no reply: the safe reply, a routine escalation, and a logged incident."""
    logger.error(
        "conversation %s: message %s got no reply (%s): safe reply sent, staff told",
        turn.sender_id,
        turn.message_id,
        "the assistant failed" if turn.failed else "nothing was said",
    )
    await _send(turn, messages(current_study(), "assistant_failed", language=turn.language))
    await asyncio.to_thread(_store_no_reply, turn)


def _in_session(turn: Turn, work: Callable[[Session, int, int | None], Any]) -> Any:
    """Run `work(session, participant_id, message_log_id)` in one transaction.

    Tried again when the database is busy or another process stored the same
    emergency first (the unique index): the next try finds it.
    """

    def attempt() -> Any:
        with session_scope() as session:
            participant = ensure_web_participant(session=session, sender_id=turn.sender_id)
            log_id = (turn.message.metadata or {}).get("message_log_id")
            if not isinstance(log_id, int):
                log_id = latest_inbound_message_id(session=session, sender_id=turn.sender_id)
            return work(session, participant.id, log_id)

    return with_retries(attempt, OperationalError, IntegrityError)


def _store_emergency(turn: Turn) -> int | None:
    """Store the message's emergency escalation; its ID if this call stored it."""

    def work(session: Session, participant_id: int, log_id: int | None) -> int | None:
        escalation, created = record_emergency(
            session=session,
            participant_id=participant_id,
            categories=turn.red_flags,
            trigger_message_id=turn.message_id,
            message_log_id=log_id,
        )
        return escalation.id if created else None

    result: int | None = _in_session(turn, work)
    return result


def _store_no_reply(turn: Turn) -> None:
    """A routine escalation: the assistant did not answer this message."""

    def work(session: Session, participant_id: int, log_id: int | None) -> None:
        raise_escalation(
            session=session,
            participant_id=participant_id,
            level=EscalationLevel.ROUTINE,
            type=EscalationType.OTHER,
            reason=NO_REPLY_REASON,
            message_log_id=log_id,
            trigger_message_id=turn.message_id,
        )

    _in_session(turn, work)


async def _repair(agent: Any, turn: Turn, *, end_form: bool) -> None:
    """Leave the conversation listening, and end its form after an emergency answered here.

    `action_emergency` ends any form; when the channel layer gave the emergency reply
    instead (the conversation was paused, the action failed), the form is ended here, so
    after hand-back the check-in does not carry on as if nothing had happened. The tracker
    is read here, under the conversation's lock: it says whether there is anything to do.
    """
    if not _is_rasa_agent(agent):
        return
    async with agent.lock_store.lock(turn.sender_id):
        tracker = await agent.tracker_store.retrieve(turn.sender_id)
        if tracker is None:
            return
        events: list[Event] = []
        ends_form = end_form and bool(tracker.active_loop_name)
        if ends_form:
            events += [ActiveLoop(None), SlotSet(REQUESTED_SLOT, None)]
        if tracker.latest_action_name != ACTION_LISTEN_NAME:
            events.append(ActionExecuted(ACTION_LISTEN_NAME))
        if not events:
            return
        for event in events:
            tracker.update(event)
        await agent.tracker_store.save(tracker)
    logger.warning(
        "conversation %s: after message %s the channel layer %s",
        turn.sender_id,
        turn.message_id,
        "ended the form" if ends_form else "set the conversation listening again",
    )
