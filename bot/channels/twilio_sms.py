"""SMS through Twilio: Rasa's input and output channel for participants who text.

Webhooks, under Rasa's `/webhooks/twilio/`:

- `POST /webhook`: an incoming SMS. The `X-Twilio-Signature` is checked first, against
  `TWILIO_WEBHOOK_BASE_URL` + the request path (the public address, so it works behind a
  proxy); without a valid one the answer is 403 and nothing is stored. A form without
  From or MessageSid gets 400. The message is logged with its `MessageSid`, and a keyword
  (below) stored, in one transaction: a SID seen before is a Twilio retry, acknowledged
  and not handled again. Unknown numbers get a kind TwiML reply and never reach the
  assistant. Everything else is answered at once with empty TwiML (Twilio gives up after
  15 s); the sending happens in the background: a keyword's answer, a "text only" reply
  to an empty or picture-only message, or the assistant's replies, all through the REST
  API (`bot.delivery`: logged, retried, opt-outs kept).
- `POST /status`: Twilio's delivery report for a message sent through the REST API
  (queued, sent, delivered, undelivered, failed); it updates that message's log entry.
- `GET /`: health.

Without the Twilio settings every route answers 503 and start-up says, in one line, what
to set. Logs carry message SIDs, log IDs and study IDs, never numbers or message text.

Opt-out. STOP, STOPALL, UNSUBSCRIBE, CANCEL, END and QUIT (the whole message, any case;
see `bot.channels.keywords`) opt the participant out: stored, confirmed once, and from
then on nothing the assistant sends on its own reaches them (reminders, check-in
prompts, messages started by staff or by Rasa's `trigger_intent`: all logged as
"suppressed"). START or UNSTOP opts them back in; HELP or INFO always gets the study
contact. A participant who texts after STOP has reached
out again, and is answered: their message is logged and handled like any other, and the
replies to *that* message are sent (a question or an emergency is never met with silence;
staff are alerted as usual). This holds only for replies to a message that came in after
the opt-out, within `REPLY_WINDOW`; a reply to a message sent before the STOP is
suppressed, and the opt-out stays in force until START. If Twilio's own opt-out handling
still blocks the number, such a reply fails with Twilio error 21610 and is logged as
failed, not retried.

Staff. A text from an active staff user's phone never reaches the assistant: it is for
`bot.handoff.staff_sms` (`ACK <code>` acknowledges an alert; during a handoff their texts
go to the participant). Every participant message the assistant handles goes through
`bot.safety.turn_guard` (the emergency reply and escalation on every path, never no reply).

A bare number ("2") answers the numbered options of the last message the participant got
(see `bot.channels.numbered_choices`): it reaches the assistant as that button's payload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache, partial
from typing import Any
from urllib.parse import parse_qs

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels.keywords import Keyword, keyword_of
from bot.channels.numbered_choices import resolve_numbered_reply
from bot.clients.twilio_sms import TwilioConfig, TwilioSmsClient, split_for_sms
from bot.crypto import address_digest
from bot.db.models import Channel, Direction, MessageLog, Participant
from bot.db.repository import get_participant_by_sender, log_message
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.delivery import SENT, Outcome, deliver
from bot.enrollment import EnrollmentError, normalise_phone, participant_for_address
from bot.handoff.staff_commands import staff_sender_id
from bot.handoff.staff_sms import handle_staff_sms
from bot.safety.turn_guard import guarded
from bot.settings import Settings, get_settings
from bot.staff.auth import user_for_phone
from bot.study import current_study
from bot.wording import messages

logger = logging.getLogger(__name__)

# How long after a participant's message the replies to it may reach them despite STOP.
REPLY_WINDOW = timedelta(minutes=15)
RECEIVED = "received"
SHUTDOWN_GRACE_SECONDS = 10.0
NOT_CONFIGURED = {"error": "SMS is not configured"}
SIGNATURE_HEADER = "X-Twilio-Signature"
MESSAGE_SID_PATTERN = re.compile(r"[A-Za-z0-9]{2,64}")
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
    """An incoming SMS once logged, and what to do about it."""

    log_id: int
    participant: Participant | None
    sender_id: str
    received_at: datetime
    # A wording (bot.wording) to send by SMS in the background: a keyword's answer.
    reply_key: str | None = None
    # Texts to answer in the webhook's TwiML (an unknown sender).
    twiml: tuple[str, ...] = ()
    # What to hand to the assistant (a bare number already turned into its choice).
    text: str | None = None
    # A staff member's username: their text is for bot.handoff.staff_sms, not the assistant.
    staff_username: str | None = None


# --- the request --------------------------------------------------------------------


def form_params(request: Request) -> RequestParameters:
    """The POST parameters exactly as Twilio signed them (blank values kept)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return RequestParameters()
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return RequestParameters()
    return RequestParameters(parse_qs(body, keep_blank_values=True))


def public_url(request: Request, settings: Settings) -> str:
    """The URL Twilio called: the public base URL, this path and the query string."""
    base = settings.twilio_webhook_base_url.rstrip("/") or f"{request.scheme}://{request.host}"
    query = f"?{request.query_string}" if request.query_string else ""
    return f"{base}{request.path}{query}"


def signed_by_twilio(request: Request, params: RequestParameters, settings: Settings) -> bool:
    """True when the request carries a valid `X-Twilio-Signature` for our auth token."""
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature or not settings.twilio_auth_token:
        return False
    validator = RequestValidator(settings.twilio_auth_token)
    return bool(validator.validate(public_url(request, settings), params, signature))


def parse_inbound(params: Mapping[str, Any]) -> InboundSms:
    """Read an incoming-message webhook; ValueError names what is missing or wrong."""
    message_sid, sender = _first(params, "MessageSid"), _first(params, "From")
    if not MESSAGE_SID_PATTERN.fullmatch(message_sid):
        raise ValueError("MessageSid is missing or malformed")
    if not sender.strip():
        raise ValueError("From is missing")
    media = _first(params, "NumMedia") or "0"
    if not media.isdigit():
        raise ValueError("NumMedia must be a number")
    # Some carriers turn @ into ¡ (as Rasa's own Twilio channel notes).
    body = _first(params, "Body").replace("¡", "@")
    return InboundSms(message_sid, sender.strip(), body, int(media))


def _first(params: Mapping[str, Any], name: str) -> str:
    values = params.get(name)
    if isinstance(values, list):
        return str(values[0]) if values else ""
    return "" if values is None else str(values)


# --- the database -------------------------------------------------------------------


def unknown_sender_id(phone: str) -> str:
    """A stable conversation ID for a number that is not enrolled (never the number)."""
    with contextlib.suppress(EnrollmentError):
        phone = normalise_phone(phone)
    return f"sms-unknown-{address_digest(Channel.SMS.value, phone)[:16]}"


def receive_sms(*, session: Session, inbound: InboundSms) -> Received:
    """Log an incoming SMS and apply what it asks, in one transaction.

    A retried webhook finds both stored or neither: IntegrityError when its SID was seen.
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
    entry = log_message(
        session=session,
        sender_id=sender_id,
        channel=Channel.SMS,
        direction=Direction.INBOUND,
        text=inbound.body,
        participant_id=participant.id if participant else None,
        external_id=inbound.message_sid,
        delivery_status=RECEIVED,
    )
    received = Received(entry.id, participant, sender_id, entry.created_at)
    if staff is not None:
        return replace(received, staff_username=staff.username, text=inbound.body.strip())
    if participant is None:
        texts = tuple(messages(current_study(), "unknown_sender"))
        log_twiml_replies(session=session, sender_id=sender_id, texts=texts)
        return replace(received, twiml=texts)
    keyword = keyword_of(inbound.body)
    if keyword is Keyword.STOP:
        changed = set_opted_out(session=session, participant_id=participant.id, opted_out=True)
        # One confirmation, at the first STOP; nothing at all for a repeated one.
        return replace(received, reply_key="sms_opted_out" if changed else None)
    if keyword is Keyword.START:
        set_opted_out(session=session, participant_id=participant.id, opted_out=False)
        return replace(received, reply_key="sms_opted_in")
    if keyword is Keyword.HELP:
        return replace(received, reply_key="sms_help")
    if not inbound.body.strip():
        return replace(received, reply_key="text_only")
    text = resolve_numbered_reply(
        session=session, participant_id=participant.id, text=inbound.body.strip()
    )
    return replace(received, text=text)


def set_opted_out(*, session: Session, participant_id: int, opted_out: bool) -> bool:
    """Opt a participant out (or back in); False when they already were."""
    unchanged = (
        Participant.opted_out_at.is_(None) if opted_out else Participant.opted_out_at.is_not(None)
    )
    result = session.execute(
        update(Participant)
        .where(Participant.id == participant_id, unchanged)
        .values(opted_out_at=utcnow() if opted_out else None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


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


def _in_session(work: Callable[..., Any], **arguments: Any) -> Any:
    """Run one repository function in its own committed session (called in a thread)."""
    with session_scope() as session:
        return work(session=session, **arguments)


async def _db(work: Callable[..., Any], **arguments: Any) -> Any:
    return await asyncio.to_thread(_in_session, work, **arguments)


def log_twiml_replies(*, session: Session, sender_id: str, texts: Sequence[str]) -> None:
    """Log the messages answered in a webhook's TwiML (Twilio sends them; no SID is known)."""
    for text in texts:
        log_message(
            session=session,
            sender_id=sender_id,
            channel=Channel.SMS,
            direction=Direction.OUTBOUND,
            text=text,
            delivery_status=SENT,
        )


# --- sending ------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _client_for(config: TwilioConfig) -> TwilioSmsClient:
    return TwilioSmsClient(config)


def sms_client() -> TwilioSmsClient:
    """The shared client for the configured account, made on first use."""
    return _client_for(TwilioConfig.from_settings(get_settings()))


async def send_to_participant(
    participant: Participant,
    text: str,
    buttons: Sequence[Mapping[str, str]] = (),
    *,
    ignore_opt_out: bool = False,
) -> list[Outcome]:
    """Split a text for SMS and deliver it (logged, retried, opt-outs kept)."""
    parts = split_for_sms(text, buttons)
    choices = [dict(button) for button in buttons]
    return await deliver(sms_client(), participant, parts, choices, ignore_opt_out=ignore_opt_out)


async def send_wording(participant: Participant, key: str, *, ignore_opt_out: bool) -> None:
    """Send one of the study's wordings (bot.wording) to a participant by SMS."""
    texts = await asyncio.to_thread(lambda: messages(current_study(), key))
    for text in texts:
        await send_to_participant(participant, text, ignore_opt_out=ignore_opt_out)


def _as_button(button: Mapping[str, Any]) -> dict[str, str]:
    return {"title": str(button.get("title") or ""), "payload": str(button.get("payload") or "")}


def _participant_by_sender(sender_id: str) -> Participant | None:
    with session_scope() as session:
        return get_participant_by_sender(session=session, sender_id=sender_id)


class TwilioSmsOutput(OutputChannel):
    """Sends the assistant's messages to a participant by SMS through Twilio's REST API."""

    def __init__(self, *, in_reply_to_message_at: datetime | None = None) -> None:
        self._in_reply_to = in_reply_to_message_at

    @classmethod
    def name(cls) -> str:
        """The channel Rasa's `output_channel=twilio` names."""
        return "twilio"

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Send a text (split into SMS-sized parts when long)."""
        await self._send(recipient_id, text, [])

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """Send a text with its buttons as numbered options ("Reply 1 for Yes, 2 for No.")."""
        await self._send(recipient_id, text, [_as_button(button) for button in buttons])

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """Custom payloads are for other channels: nothing is sent over SMS."""
        logger.warning("twilio: custom payload for %s not sent over SMS", recipient_id)

    def _replying_after_opt_out(self, participant: Participant) -> bool:
        """True for a reply to a message the participant sent after opting out (recently)."""
        if self._in_reply_to is None or participant.opted_out_at is None:
            return False
        return (
            participant.opted_out_at <= self._in_reply_to
            and utcnow() - self._in_reply_to <= REPLY_WINDOW
        )

    async def _send(self, recipient_id: str, text: str, buttons: list[dict[str, str]]) -> None:
        if not text.strip() and not buttons:
            return
        if not get_settings().twilio_enabled:
            logger.warning("twilio: SMS is not configured; nothing sent to %s", recipient_id)
            return
        participant = await asyncio.to_thread(_participant_by_sender, recipient_id)
        if participant is None or participant.channel is not Channel.SMS:
            logger.warning("twilio: %s is not an SMS participant; nothing sent", recipient_id)
            return
        await send_to_participant(
            participant,
            text,
            buttons,
            ignore_opt_out=self._replying_after_opt_out(participant),
        )


# --- receiving ----------------------------------------------------------------------


def _twiml(texts: Iterable[str] = ()) -> HTTPResponse:
    """A TwiML answer: empty, or messages to send back to the sender."""
    answer = MessagingResponse()
    for text in texts:
        answer.message(text)
    return response.text(answer.to_xml(), content_type="text/xml")


def _variable(field: str) -> str:
    """The environment variable of a settings field."""
    return str(Settings.__fields__[field].field_info.extra["env"])


def _missing_variables(settings: Settings) -> list[str]:
    """The environment variables still to set before SMS works fully."""
    missing = [
        _variable(field)
        for field in ("twilio_account_sid", "twilio_auth_token")
        if not getattr(settings, field)
    ]
    if not (settings.twilio_from_number or settings.twilio_messaging_service_sid):
        sender, service = _variable("twilio_from_number"), _variable("twilio_messaging_service_sid")
        missing.append(f"{sender} (or {service})")
    if not settings.twilio_webhook_base_url:
        missing.append(_variable("twilio_webhook_base_url"))
    return missing


def _announce(settings: Settings) -> None:
    """Say at start-up, in one line, when SMS is off and what turns it on."""
    missing = _missing_variables(settings)
    if not settings.twilio_enabled:
        logger.info("SMS (Twilio) is not enabled: set %s", ", ".join(missing))
        return
    TwilioConfig.from_settings(settings)  # refuses placeholder secrets now, not on first use
    if missing:
        logger.warning(
            "SMS (Twilio) is enabled, but set %s: webhook signatures are checked against "
            "the local address and delivery reports are off",
            ", ".join(missing),
        )


class TwilioSmsInput(InputChannel):
    """Receives participants' SMS from Twilio's webhooks (see the module docstring)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def name(cls) -> str:
        """Served under /webhooks/twilio/."""
        return "twilio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Secrets come from the settings, never from credentials.yml."""
        return cls()

    def get_output_channel(self) -> OutputChannel:
        """Lets Rasa message a participant first (`trigger_intent?output_channel=twilio`)."""
        return TwilioSmsOutput()

    async def wait_idle(self) -> None:
        """Wait until every message received so far has been handled."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _finish_handling(self) -> None:
        """At shutdown, give messages already acknowledged to Twilio time to be handled."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_GRACE_SECONDS)
        if pending:
            logger.warning("twilio: %s messages were still being handled at shutdown", len(pending))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The health check, the message webhook and the delivery-report webhook."""
        settings = get_settings()
        _announce(settings)
        twilio_sms = Blueprint("twilio_sms", __name__)
        on_new_message = guarded(on_new_message, twilio_sms)

        @twilio_sms.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            if not settings.twilio_enabled:
                return response.json(NOT_CONFIGURED, status=503)
            return response.json({"status": "ok"})

        @twilio_sms.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not settings.twilio_enabled:
                return response.json(NOT_CONFIGURED, status=503)
            return await self._on_message(request, settings, on_new_message)

        @twilio_sms.listener("before_server_stop")
        async def finish_handling(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
            await self._finish_handling()

        @twilio_sms.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            if not settings.twilio_enabled:
                return response.json(NOT_CONFIGURED, status=503)
            return await self._on_status(request, settings)

        return twilio_sms

    async def _on_message(
        self,
        request: Request,
        settings: Settings,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> HTTPResponse:
        """Check, log and acknowledge an incoming SMS; handle it in the background."""
        params = form_params(request)
        if not signed_by_twilio(request, params, settings):
            logger.warning("twilio: refused a message without a valid signature")
            return response.json({"error": "invalid Twilio signature"}, status=403)
        try:
            inbound = parse_inbound(params)
        except ValueError as error:
            return response.json({"error": str(error)}, status=400)
        try:
            received: Received = await _db(receive_sms, inbound=inbound)
        except IntegrityError:
            logger.info("twilio: message %s was already received; ignored", inbound.message_sid)
            return _twiml()
        logger.info(
            "twilio: message %s received (log %s, %s)",
            inbound.message_sid,
            received.log_id,
            received.sender_id,
        )
        if received.staff_username is not None:
            staff_reply = handle_staff_sms(
                username=received.staff_username,
                phone=inbound.sender,
                text=received.text or "",
                log_id=received.log_id,
                client=sms_client(),
            )
            self._in_background(staff_reply, received)
            return _twiml()
        participant = received.participant
        if participant is None:
            return _twiml(received.twiml)
        if received.reply_key:
            logger.info("twilio: answering %s with %s", participant.study_id, received.reply_key)
            reply = send_wording(participant, received.reply_key, ignore_opt_out=True)
            self._in_background(reply, received)
        elif received.text is not None:
            self._in_background(
                on_new_message(self._user_message(inbound, received, participant, received.text)),
                received,
            )
        return _twiml()

    def _user_message(
        self, inbound: InboundSms, received: Received, participant: Participant, text: str
    ) -> UserMessage:
        """The message for Rasa; its replies may reach the participant even after STOP."""
        return UserMessage(
            text,
            TwilioSmsOutput(in_reply_to_message_at=received.received_at),
            sender_id=participant.sender_id,
            input_channel=self.name(),
            message_id=inbound.message_sid,
            metadata={
                "message_sid": inbound.message_sid,
                "message_log_id": received.log_id,
                "num_media": inbound.num_media,
            },
        )

    def _in_background(self, work: Awaitable[Any], received: Received) -> None:
        """Run work after the webhook has answered; keep a reference and log failures."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(partial(self._finished, log_id=received.log_id))

    def _finished(self, task: asyncio.Task[Any], *, log_id: int) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            logger.warning("twilio: handling of message log %s was cancelled", log_id)
            return
        error = task.exception()
        if error is not None:
            logger.error("twilio: handling of message log %s failed", log_id, exc_info=error)

    async def _on_status(self, request: Request, settings: Settings) -> HTTPResponse:
        """Record Twilio's delivery report of an outbound message."""
        params = form_params(request)
        if not signed_by_twilio(request, params, settings):
            logger.warning("twilio: refused a status report without a valid signature")
            return response.json({"error": "invalid Twilio signature"}, status=403)
        message_sid = _first(params, "MessageSid")
        status = (_first(params, "MessageStatus") or _first(params, "SmsStatus")).lower()
        if not MESSAGE_SID_PATTERN.fullmatch(message_sid) or status not in STATUS_ORDER:
            return response.json({"error": "MessageSid or MessageStatus is not valid"}, status=400)
        entry = await _db(
            update_delivery_status,
            message_sid=message_sid,
            status=status,
            error_code=_first(params, "ErrorCode") or None,
        )
        if entry is None:
            logger.info("twilio: status %s for unknown message %s", status, message_sid)
        else:
            logger.info("twilio: message %s (log %s) is %s", message_sid, entry.id, status)
        return response.empty()
