"""What an incoming SMS means, and the SMS channel's own records: the SQL side, no HTTP.

`receive_sms` runs in one transaction per webhook: it finds who wrote (a staff member by
their phone, an enrolled participant, or a stranger, who gets a stable ID that is never
the number), logs the message with its `MessageSid` (a SID seen before raises
IntegrityError: a Twilio retry), applies a keyword, and says what to do next (`Received`):
TwiML texts for a stranger, a staff member's text for `bot.handoff.staff_sms`, or, for a
participant, the message of theirs this server handles now. A participant's message
waits in the message log until its turn is done (`bot.messaging.inbound`: once each, in
order, whichever Rasa server claims it), and what it asks for is read from the log when
it is handled (`next_step`): a wording to send (a keyword's answer, "text only"), or the
text to hand to the assistant (a bare number turned into the choice it picked when it
arrived). The webhook itself is `bot.channels.twilio_sms`.

Opt-out. STOP, STOPALL, UNSUBSCRIBE, CANCEL, END and QUIT, and in Spanish PARAR, ALTO,
CANCELAR, BASTA, NO MAS, DETENER and a few sentences like "ya no me manden mensajes" (the
whole message, any case; see `bot.channels.keywords`) opt the participant out: stored,
confirmed once, and from then on nothing the assistant sends on its own reaches them
(reminders, check-in prompts, messages started by staff or by Rasa's `trigger_intent`:
all logged as "suppressed"). START or UNSTOP (EMPEZAR, INICIAR, COMENZAR) opts them back
in; HELP or INFO (AYUDA, INFORMACION) always gets the study contact. The answer is in
Spanish for a Spanish word, else in the participant's language. Twilio's own opt-out
handling knows only the English words: a Spanish opt-out is recorded here alone, and its
one confirmation is ours. A participant who texts after STOP has reached
out again, and is answered: their message is logged and handled like any other, and the
replies to *that* message are sent (a question or an emergency is never met with silence;
staff are alerted as usual). This holds only for replies to a message that came in after
the opt-out, within `REPLY_WINDOW` of its handling; a reply to a message sent before the STOP is
suppressed, and the opt-out stays in force until START. If Twilio's own opt-out handling
still blocks the number, such a reply fails with Twilio error 21610 and is logged as
failed, not retried.

Staff. A text from an active staff user's phone never reaches the assistant: it is for
`bot.handoff.staff_sms` (`ACK <code>` acknowledges an alert; during a handoff their texts
go to the participant). Every participant message the assistant handles goes through
`bot.safety.turn_guard` (the emergency reply and escalation on every path, never no reply).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.channels.keywords import Keyword, KeywordMatch, keyword_of
from bot.channels.replies import channel_texts
from bot.clients.base import SENT
from bot.core.crypto import address_digest
from bot.core.languages import DEFAULT_LANGUAGE, language_or_default
from bot.db.models import Channel, Direction, MessageLog, Participant
from bot.db.repository import log_message
from bot.handoff.staff_commands import staff_sender_id
from bot.messaging.inbound import Claimant, Stored, lock_queue, take_next
from bot.messaging.numbered_choices import resolve_numbered_reply
from bot.participants.enrollment import (
    EnrollmentError,
    normalise_phone,
    participant_for_address,
    set_opted_out,
)
from bot.staff.auth import user_for_phone

# How long after a participant's message is handled the replies to it may reach them
# despite STOP.
REPLY_WINDOW = timedelta(minutes=15)
RECEIVED = "received"
KEYWORD_REPLIES = {
    Keyword.STOP: "sms_opted_out",
    Keyword.START: "sms_opted_in",
    Keyword.HELP: "sms_help",
}
# Twilio's message statuses in the order they happen; a late report never moves one back.
STATUS_ORDER = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "receiving": 3,
    "received": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "read": 5,
}


@dataclass(frozen=True)
class InboundSms:
    """The parts of Twilio's webhook the channel uses."""

    message_sid: str
    sender: str
    body: str
    num_media: int


@dataclass(frozen=True)
class Received:
    """An incoming SMS once logged, and what to do about it now."""

    log_id: int
    participant: Participant | None
    sender_id: str
    received_at: datetime
    # Texts to answer in the webhook's TwiML (an unknown sender).
    twiml: tuple[str, ...] = ()
    # A staff member's username: their text is for bot.handoff.staff_sms, not the assistant.
    staff_username: str | None = None
    # The staff member's text.
    text: str | None = None
    # The participant's message this server handles now: this one, or an earlier one of
    # theirs still waiting. None when one of theirs is being handled: its handler takes
    # this one next.
    claimed: Stored | None = None


@dataclass(frozen=True)
class Step:
    """What a participant's stored message asks for, read when it is handled."""

    participant: Participant | None
    # A wording (bot.study.wording) to send by SMS: a keyword's answer, or "text only".
    reply_key: str | None = None
    # The language to send that wording in.
    language: str = DEFAULT_LANGUAGE
    # What to hand to the assistant (a bare number already turned into its choice).
    text: str | None = None


def unknown_sender_id(phone: str) -> str:
    """A stable conversation ID for a number that is not enrolled (never the number)."""
    with contextlib.suppress(EnrollmentError):
        phone = normalise_phone(phone)
    return f"sms-unknown-{address_digest(Channel.SMS.value, phone)[:16]}"


def receive_sms(
    *, session: Session, inbound: InboundSms, claimant: Claimant, now: datetime
) -> Received:
    """Log an incoming SMS and apply what it asks, in one transaction.

    A retried webhook finds both stored or neither: IntegrityError when its SID was seen.
    A participant's message is stored waiting (a repeated STOP, which asks for nothing,
    is handled at once), and their oldest waiting message is claimed if nobody holds it.
    """
    staff = user_for_phone(session=session, phone=inbound.sender)
    participant = (
        None
        if staff
        else participant_for_address(session=session, channel=Channel.SMS, address=inbound.sender)
    )
    if staff is not None:
        sender_id = staff_sender_id(staff.id)
    else:
        sender_id = participant.sender_id if participant else unknown_sender_id(inbound.sender)
    awaiting, language = False, None
    match = keyword_of(inbound.body) if staff is None else None
    if participant is not None:
        lock_queue(session=session, participant_id=participant.id)
        awaiting = _apply_keyword(session, participant, match)
        language = match.reply_language(participant.language) if match else None
    entry = log_message(
        session=session,
        sender_id=sender_id,
        channel=Channel.SMS,
        direction=Direction.INBOUND,
        text=inbound.body,
        participant_id=participant.id if participant else None,
        external_id=inbound.message_sid,
        delivery_status=RECEIVED,
        awaiting=awaiting,
        detail={"num_media": inbound.num_media} if participant else None,
        language=language,
    )
    received = Received(entry.id, participant, sender_id, entry.created_at)
    if staff is not None:
        return replace(received, staff_username=staff.username, text=inbound.body.strip())
    if participant is None:
        # A stranger's Spanish keyword (PARAR, AYUDA) is answered in Spanish.
        language = match.reply_language(None) if match else DEFAULT_LANGUAGE
        texts = tuple(channel_texts("unknown_sender", language))
        log_twiml_replies(session=session, sender_id=sender_id, texts=texts, language=language)
        return replace(received, twiml=texts)
    claimed = take_next(
        session=session,
        participant_id=participant.id,
        channel=Channel.SMS,
        claimant=claimant,
        now=now,
    )
    return replace(received, claimed=claimed)


def _apply_keyword(session: Session, participant: Participant, match: KeywordMatch | None) -> bool:
    """Opt out or back in as STOP or START asks; False when there is nothing to answer."""
    keyword = match.keyword if match else None
    if keyword is Keyword.STOP:
        # One confirmation, at the first STOP; nothing at all for a repeated one.
        return set_opted_out(session=session, participant_id=participant.id, opted_out=True)
    if keyword is Keyword.START:
        set_opted_out(session=session, participant_id=participant.id, opted_out=False)
    return True


def next_step(*, session: Session, stored: Stored) -> Step:
    """What a participant's stored message asks for (its keyword was applied when stored).

    A STOP still waiting is a first one (a repeated STOP is stored as handled): it gets
    the one confirmation.
    """
    participant = session.get(Participant, stored.participant_id)
    language = language_or_default(participant.language if participant else None)
    match = keyword_of(stored.text)
    if match is not None:
        return Step(
            participant,
            reply_key=KEYWORD_REPLIES[match.keyword],
            language=match.reply_language(language),
        )
    text = stored.text.strip()
    if not text:
        return Step(participant, reply_key="text_only", language=language)
    text = resolve_numbered_reply(
        session=session,
        participant_id=stored.participant_id,
        text=text,
        before_log_id=stored.log_id,
    )
    return Step(participant, text=text)


def update_delivery_status(
    *, session: Session, message_sid: str, status: str, error_code: str | None
) -> MessageLog | None:
    """Record Twilio's delivery report on the outbound message it is about (None: unknown)."""
    entry = session.execute(
        select(MessageLog).where(
            MessageLog.channel == Channel.SMS,
            MessageLog.direction == Direction.OUTBOUND,
            MessageLog.external_id == message_sid,
        )
    ).scalar_one_or_none()
    if entry is None:
        return None
    if STATUS_ORDER[status] >= STATUS_ORDER.get(entry.delivery_status or "", -1):
        entry.delivery_status = status
        if error_code:
            entry.error = f"Twilio error {error_code}"
    return entry


def log_twiml_replies(
    *, session: Session, sender_id: str, texts: Sequence[str], language: str | None = None
) -> None:
    """Log the messages answered in a webhook's TwiML (Twilio sends them; no SID is known)."""
    for text in texts:
        log_message(
            session=session,
            sender_id=sender_id,
            channel=Channel.SMS,
            direction=Direction.OUTBOUND,
            text=text,
            delivery_status=SENT,
            language=language,
        )
