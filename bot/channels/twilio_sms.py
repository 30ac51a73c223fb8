"""SMS through Twilio: Rasa's input and output channel for participants who text.

Webhooks, under Rasa's `/webhooks/twilio/`:

- `POST /webhook`: an incoming SMS. The `X-Twilio-Signature` is checked first, against
  `TWILIO_WEBHOOK_BASE_URL` + the request path (the public address, so it works behind a
  proxy); without a valid one the answer is 403 and nothing is stored. A form without
  From or MessageSid gets 400. The message is logged with its `MessageSid`, and a keyword
  (below) stored, in one transaction. Unknown numbers get a kind TwiML reply and never
  reach the assistant. Everything else is answered at once with empty TwiML (Twilio gives
  up after 15 s) and handled in the background: a keyword's answer, a "text only" reply
  to an empty or picture-only message, or the assistant's replies, all through the REST
  API (`bot.messaging.delivery`: logged, retried, opt-outs kept).
  A SID seen before is a Twilio retry: acknowledged and ignored when its message was
  handled; when it was stored but not handled (the server stopped), it is handled now,
  unless another server holds it.
- `POST /status`: Twilio's delivery report for a message sent through the REST API
  (queued, sent, delivered, undelivered, failed); it updates that message's log entry.
- `GET /`: health.

Without the Twilio settings every route answers 503 and start-up says, in one line, what
to set. Logs carry message SIDs, log IDs and study IDs, never numbers or message text.

What an incoming SMS means (participant, staff member or stranger; keywords and opt-out;
the delivery reports) is `bot.channels.sms_inbox`, the SQL side of this channel: this
module is the HTTP side and the sending. Every participant message the assistant handles
goes through `bot.safety.turn_guard` (the emergency reply and escalation on every path,
never no reply).

No acknowledged message is lost: a participant's message waits in the message log until
its turn is done, is handled once, in order with their others, by whichever Rasa server
claims it, and is picked up by the recovery sweep if its server stopped before it was
done (`bot.channels.inbound_queue`).

A bare number ("2") answers the numbered options of the last message the participant got
(see `bot.messaging.numbered_choices`): it reaches the assistant as that button's payload.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache, partial
from typing import Any
from urllib.parse import parse_qs

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from sqlalchemy.exc import IntegrityError
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels.inbound_queue import InboundQueue
from bot.channels.limits import limit_body
from bot.channels.replies import channel_texts
from bot.channels.sms_inbox import (
    REPLY_WINDOW,
    STATUS_ORDER,
    InboundSms,
    Received,
    next_step,
    receive_sms,
    update_delivery_status,
)
from bot.clients.twilio_sms import TwilioConfig, TwilioSmsClient
from bot.core.settings import Settings, get_settings
from bot.db.models import Channel, Participant
from bot.db.repository import get_participant_by_sender
from bot.db.session import in_session_async, session_scope
from bot.db.types import utcnow
from bot.handoff.staff_sms import handle_staff_sms
from bot.messaging.delivery import Outcome, ReplyTo, deliver_bot_message
from bot.messaging.inbound import RetryState, Stored
from bot.safety.turn_guard import guarded

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0
NOT_CONFIGURED = {"error": "SMS is not configured"}
SIGNATURE_HEADER = "X-Twilio-Signature"
MESSAGE_SID_PATTERN = re.compile(r"[A-Za-z0-9]{2,64}")
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
    language: str | None = None,
    reply_to: ReplyTo | None = None,
) -> list[Outcome]:
    """Split a text for SMS and deliver it (logged, retried, opt-outs kept).

    `language`: the text's, when it is not the participant's (logged with it, and the
    numbered options are written in it). `reply_to`: the participant's message it answers.
    """
    return await deliver_bot_message(
        sms_client(),
        participant,
        text,
        [dict(button) for button in buttons],
        ignore_opt_out=ignore_opt_out,
        language=language,
        reply_to=reply_to,
    )


async def send_wording(
    participant: Participant, key: str, *, language: str, ignore_opt_out: bool
) -> None:
    """Send one of the study's wordings (bot.study.wording) in a language by SMS."""
    texts = await asyncio.to_thread(channel_texts, key, language)
    for text in texts:
        await send_to_participant(
            participant, text, ignore_opt_out=ignore_opt_out, language=language
        )


def _as_button(button: Mapping[str, Any]) -> dict[str, str]:
    return {"title": str(button.get("title") or ""), "payload": str(button.get("payload") or "")}


def _participant_by_sender(sender_id: str) -> Participant | None:
    with session_scope() as session:
        return get_participant_by_sender(session=session, sender_id=sender_id)


class TwilioSmsOutput(OutputChannel):
    """Sends the assistant's messages to a participant by SMS through Twilio's REST API."""

    def __init__(
        self,
        *,
        in_reply_to_message_at: datetime | None = None,
        handled_from: datetime | None = None,
        reply_to: ReplyTo | None = None,
    ) -> None:
        self._in_reply_to = in_reply_to_message_at
        # When the message's handling started (later than its arrival if it waited).
        self._handled_from = handled_from
        # The stored message this handling answers: its replies are numbered, so a run
        # again after a server stopped mid-turn sends only what was not sent.
        self._reply_to = reply_to

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
        since = max(self._in_reply_to, self._handled_from or self._in_reply_to)
        return participant.opted_out_at <= self._in_reply_to and utcnow() - since <= REPLY_WINDOW

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
            reply_to=self._reply_to,
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
        self._queue = InboundQueue(Channel.SMS, "twilio")

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

    @property
    def queue(self) -> InboundQueue:
        """Participants' messages waiting to be handled (and the recovery sweep)."""
        return self._queue

    async def wait_idle(self) -> None:
        """Wait until every message received so far has been handled."""
        while tasks := self._tasks | self._queue.tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _finish_handling(self) -> None:
        """At shutdown, give messages already acknowledged to Twilio time to be handled.

        Those still unfinished stay claimed in the message log: once their claim runs out,
        this server after a restart, or another one, handles them.
        """
        tasks = self._tasks | self._queue.tasks
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
        if pending:
            logger.warning("twilio: %s messages were still being handled at shutdown", len(pending))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The health check, the message webhook and the delivery-report webhook."""
        settings = get_settings()
        _announce(settings)
        twilio_sms = limit_body(Blueprint("twilio_sms", __name__))
        on_new_message = guarded(on_new_message, twilio_sms)
        if settings.twilio_enabled:
            handle = partial(self._handle_stored, on_new_message=on_new_message)
            self._queue.attach(twilio_sms, handle, settings)

        @twilio_sms.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            if not settings.twilio_enabled:
                return response.json(NOT_CONFIGURED, status=503)
            return response.json({"status": "ok"})

        @twilio_sms.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not settings.twilio_enabled:
                return response.json(NOT_CONFIGURED, status=503)
            return await self._on_message(request, settings)

        @twilio_sms.listener("before_server_stop")
        async def finish_handling(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
            await self._finish_handling()

        @twilio_sms.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            if not settings.twilio_enabled:
                return response.json(NOT_CONFIGURED, status=503)
            return await self._on_status(request, settings)

        return twilio_sms

    async def _on_message(self, request: Request, settings: Settings) -> HTTPResponse:
        """Check, log and acknowledge an incoming SMS; handle it in the background."""
        params = form_params(request)
        if not signed_by_twilio(request, params, settings):
            logger.warning("twilio: refused a message without a valid signature")
            return response.json({"error": "invalid Twilio signature"}, status=403)
        try:
            inbound = parse_inbound(params)
        except ValueError as error:
            return response.json({"error": str(error)}, status=400)
        claimant = self._queue.claimant
        try:
            received: Received = await in_session_async(
                lambda session: receive_sms(
                    session=session, inbound=inbound, claimant=claimant, now=utcnow()
                )
            )
        except IntegrityError:
            return await self._on_retry(inbound)
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
            self._in_background(staff_reply, received.log_id)
            return _twiml()
        if received.participant is None:
            return _twiml(received.twiml)
        if received.claimed is None:
            logger.info(
                "twilio: message %s waits for an earlier message of %s to be handled",
                inbound.message_sid,
                received.sender_id,
            )
        self._queue.start(received.claimed)
        return _twiml()

    async def _on_retry(self, inbound: InboundSms) -> HTTPResponse:
        """Twilio sent a message again: handle it if it was stored but never handled."""
        retry = await self._queue.redelivered(inbound.message_sid)
        if retry.state is RetryState.WAITING:
            logger.info(
                "twilio: message %s was received before; being handled", inbound.message_sid
            )
        elif retry.state is not RetryState.CLAIMED:
            logger.info("twilio: message %s was already received; ignored", inbound.message_sid)
        return _twiml()

    async def _handle_stored(
        self, stored: Stored, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        """Handle a participant's stored message: a keyword's answer, or a turn of Rasa's."""
        step = await in_session_async(lambda session: next_step(session=session, stored=stored))
        participant = step.participant
        if participant is None:
            logger.warning("twilio: message log %s: the participant is gone", stored.log_id)
            return
        if step.reply_key:
            logger.info("twilio: answering %s with %s", participant.study_id, step.reply_key)
            await send_wording(
                participant, step.reply_key, language=step.language, ignore_opt_out=True
            )
        elif step.text is not None:
            await on_new_message(self._user_message(stored, participant, step.text))

    def _user_message(self, stored: Stored, participant: Participant, text: str) -> UserMessage:
        """The message for Rasa; its replies may reach the participant even after STOP."""
        return UserMessage(
            text,
            TwilioSmsOutput(
                in_reply_to_message_at=stored.received_at,
                handled_from=utcnow(),
                reply_to=ReplyTo(stored.log_id, rerun=stored.attempt > 1),
            ),
            sender_id=participant.sender_id,
            input_channel=self.name(),
            message_id=stored.external_id,
            metadata={
                "message_sid": stored.external_id,
                "message_log_id": stored.log_id,
                "num_media": int(stored.detail.get("num_media") or 0),
            },
        )

    def _in_background(self, work: Awaitable[Any], log_id: int) -> None:
        """Run work after the webhook has answered; keep a reference and log failures."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(partial(self._finished, log_id=log_id))

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
        error_code = _first(params, "ErrorCode") or None
        entry = await in_session_async(
            lambda session: update_delivery_status(
                session=session, message_sid=message_sid, status=status, error_code=error_code
            )
        )
        if entry is None:
            logger.info("twilio: status %s for unknown message %s", status, message_sid)
        else:
            logger.info("twilio: message %s (log %s) is %s", message_sid, entry.id, status)
        return response.empty()
