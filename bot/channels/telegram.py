"""Telegram: participants chat with the assistant through the study's bot.

Telegram posts each update to `/webhooks/telegram/webhook` with our secret in the
`X-Telegram-Bot-Api-Secret-Token` header. An update is logged once (its `update_id` is
the log's external ID), answered 200 at once, and handled in the background, one at a
time per chat. A participant's update waits in the message log until its turn is done,
and is handled once, in order with their others, by whichever Rasa server claims it; the
recovery sweep handles it if its server stopped first (`bot.channels.inbound_queue`). A
re-delivered update is dropped when it was handled, and handled now when it was stored
but not handled (and nobody holds it).

- `/start <code>` from a chat not yet linked links it to the participant the code was
  given to (`trialbot enroll … --channel telegram`); any other message from an unknown
  chat gets "please ask your study team" and never reaches the assistant;
- text from a linked chat goes to Rasa as the participant (their sender ID); a button
  press is answered (the button stops spinning) and its payload goes to Rasa as if typed;
- edits, stickers, photos and the like get a "please type" reply;
- anything from a staff member (their own chat or the staff group: alert buttons,
  `ACK <code>`, `/done`, replies to alerts) is for `bot.handoff.staff_telegram` and never
  reaches the assistant.

Keywords are SMS's (`bot.channels.keywords`), answered in Spanish for a Spanish word,
else in the participant's language: HELP or INFO (AYUDA) gets the study contact; STOP
(PARAR, ALTO, CANCELAR, BASTA, NO MAS, "ya no me manden mensajes") opts the participant
out of everything the assistant sends on its own (prompts, reminders), and START
(EMPEZAR, INICIAR) back in; replies to what they write still go out. Every other participant
message goes through `bot.safety.turn_guard` (the emergency reply and escalation on every
path, never no reply).

Starting the channel calls nothing over the network: the webhook is registered
separately (`bot.channels.telegram_setup`). Replies go out through `bot.messaging.delivery`, so
they are logged, retried and kept from participants who opted out.
"""

from __future__ import annotations

import asyncio
import enum
import hmac
import logging
import re
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from telegram import Chat, Update

from bot.channels.inbound_queue import InboundQueue
from bot.channels.keywords import SMS_WORDS, Keyword, KeywordMatch, keyword_of
from bot.channels.limits import limit_body
from bot.channels.replies import channel_texts
from bot.clients.base import SENT, Button, SendError
from bot.clients.telegram_bot import (
    TelegramClient,
    chat_key,
    payload_for_callback,
    webhook_secret,
)
from bot.core.languages import DEFAULT_LANGUAGE, LANGUAGES, language_or_default
from bot.core.settings import get_settings
from bot.db.models import Channel, Direction, MessageLog, Participant
from bot.db.repository import get_participant_by_sender, log_message
from bot.db.session import session_scope
from bot.db.types import utcnow
from bot.handoff.staff_telegram import handle_staff_update, staff_update_for
from bot.messaging.delivery import FAILED, ReplyTo, deliver, deliver_bot_message
from bot.messaging.inbound import Claimant, RetryState, Stored, lock_queue, take_next
from bot.messaging.message_log import record_message
from bot.messaging.numbered_choices import resolve_numbered_reply
from bot.participants.enrollment import (
    address_of,
    link_telegram_chat,
    participant_for_address,
    set_opted_out,
)
from bot.safety.turn_guard import guarded

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
RECEIVED = "received"
# "/start", "/start CODE" (also "/start@OurBot CODE", as Telegram writes it in menus).
# What a keyword gets in answer (STOP and START also opt out and back in).
TELEGRAM_KEYWORD_REPLIES = {
    Keyword.HELP: "help",
    Keyword.STOP: "telegram_opted_out",
    Keyword.START: "telegram_opted_in",
}
START_COMMAND = re.compile(r"/start(?:@\w+)?(?:\s+(\S+))?\s*", re.IGNORECASE)
STOP_WAIT_SECONDS = 10.0


class Kind(enum.Enum):
    """What a participant sent."""

    TEXT = "text"
    BUTTON = "button"
    NOT_TEXT = "not_text"


@dataclass(frozen=True)
class Incoming:
    """One update the channel handles: the chat, and the typed text or the button's data."""

    update_id: int
    chat_id: str
    kind: Kind
    text: str
    callback_query_id: str | None = None
    # The bot's message the pressed button was under.
    button_message_id: int | None = None


@dataclass(frozen=True)
class Claimed:
    """An update logged for the first time: its log entry and who sent it, if known."""

    log_id: int
    sender_id: str
    participant: Participant | None
    # The participant's message this server handles now: this one, or an earlier one of
    # theirs still waiting. None when one of theirs is being handled: its handler takes
    # this one next.
    next: Stored | None = None
    # Handled again: its last handler stopped mid-turn (what it sent is not sent again).
    rerun: bool = False


def read_update(update: Update) -> Incoming | None:
    """What an update brings from a private chat (None: nothing for the channel)."""
    chat = update.effective_chat
    if chat is None or chat.type != Chat.PRIVATE:
        return None
    chat_id = str(chat.id)
    query = update.callback_query
    if query is not None:
        message_id = query.message.message_id if query.message else None
        return Incoming(
            update.update_id, chat_id, Kind.BUTTON, query.data or "", query.id, message_id
        )
    if update.message is not None and update.message.text:
        return Incoming(update.update_id, chat_id, Kind.TEXT, update.message.text)
    message = update.message or update.edited_message
    if message is None:
        return None
    return Incoming(update.update_id, chat_id, Kind.NOT_TEXT, message.text or message.caption or "")


def unknown_chat_sender(chat_id: str) -> str:
    """The log's sender ID for a chat no participant has linked (not the chat ID itself)."""
    return f"telegram-{chat_key(chat_id)}"


def update_key(update_id: int) -> str:
    """The message log's external ID of an update."""
    return f"update:{update_id}"


def _detail(incoming: Incoming) -> dict[str, Any]:
    """What handling the update needs besides its text, to handle it from the log alone."""
    detail: dict[str, Any] = {"update_id": incoming.update_id, "kind": incoming.kind.value}
    if incoming.callback_query_id is not None:
        detail["callback_query_id"] = incoming.callback_query_id
    if incoming.button_message_id is not None:
        detail["button_message_id"] = incoming.button_message_id
    return detail


def _incoming_from(stored: Stored, chat_id: str) -> Incoming:
    """The update a participant's stored message came as (see `_detail`)."""
    detail = stored.detail
    return Incoming(
        update_id=int(detail["update_id"]),
        chat_id=chat_id,
        kind=Kind(detail.get("kind", Kind.TEXT.value)),
        text=stored.text,
        callback_query_id=detail.get("callback_query_id"),
        button_message_id=detail.get("button_message_id"),
    )


def _claim(incoming: Incoming, claimant: Claimant) -> Claimed | None:
    """Log an inbound update; None when the same update_id was logged before.

    A participant's update is stored waiting, and their oldest waiting message is claimed
    if nobody holds it; an update from a chat nobody linked is handled when stored.
    """
    try:
        with session_scope() as session:
            participant = participant_for_address(
                session=session, channel=Channel.TELEGRAM, address=incoming.chat_id
            )
            if participant is not None:
                lock_queue(session=session, participant_id=participant.id)
            sender_id = (
                participant.sender_id if participant else unknown_chat_sender(incoming.chat_id)
            )
            entry = log_message(
                session=session,
                sender_id=sender_id,
                channel=Channel.TELEGRAM,
                direction=Direction.INBOUND,
                text=incoming.text,
                participant_id=participant.id if participant else None,
                external_id=update_key(incoming.update_id),
                delivery_status=RECEIVED,
                awaiting=participant is not None,
                detail=_detail(incoming) if participant else None,
            )
            if participant is None:
                return Claimed(entry.id, sender_id, None)
            claimed = take_next(
                session=session,
                participant_id=participant.id,
                channel=Channel.TELEGRAM,
                claimant=claimant,
                now=utcnow(),
            )
            return Claimed(entry.id, sender_id, participant, claimed)
    except IntegrityError:
        return None


def _set_opted_out(participant_id: int, opted_out: bool) -> None:
    with session_scope() as session:
        set_opted_out(session=session, participant_id=participant_id, opted_out=opted_out)


def _participant(participant_id: int) -> Participant | None:
    with session_scope() as session:
        return session.get(Participant, participant_id)


def _link(code: str, chat_id: str, log_id: int) -> Participant | None:
    """Link the chat to the code's participant, and file the /start message under them."""
    try:
        with session_scope() as session:
            participant = link_telegram_chat(session=session, code=code, chat_id=chat_id)
            if participant is None:
                return None
            entry = session.get(MessageLog, log_id)
            if entry is not None:
                entry.participant_id, entry.sender_id = participant.id, participant.sender_id
            return participant
    except IntegrityError:  # the chat was linked to someone else meanwhile
        return None


def _buttons_sent(chat_id: str, message_id: int) -> list[Mapping[str, Any]]:
    """The buttons of one of our messages in a chat, as the message log kept them."""
    with session_scope() as session:
        buttons = session.execute(
            select(MessageLog.buttons).where(
                MessageLog.channel == Channel.TELEGRAM,
                MessageLog.direction == Direction.OUTBOUND,
                MessageLog.external_id == f"{chat_key(chat_id)}:{message_id}",
            )
        ).scalar_one_or_none()
        return list(buttons or [])


def _numbered(participant_id: int, text: str) -> str:
    with session_scope() as session:
        return resolve_numbered_reply(session=session, participant_id=participant_id, text=text)


def _telegram_participant(sender_id: str) -> Participant | None:
    with session_scope() as session:
        participant = get_participant_by_sender(session=session, sender_id=sender_id)
        if participant is None or participant.channel is not Channel.TELEGRAM:
            return None
        return participant


def _as_typed(text: str) -> str:
    """Text as the assistant should read it: a leading "/" (Telegram's commands) dropped.

    Rasa would take "/help" as the intent `help`; a participant only ever types words.
    """
    return text.strip().lstrip("/").strip()


def _rasa_button(button: Mapping[str, Any]) -> Button:
    title = str(button.get("title") or button.get("payload") or "")
    return {"title": title, "payload": str(button.get("payload") or title)}


class TelegramOutput(OutputChannel):
    """Sends the assistant's messages to a participant's linked chat (logged, retried)."""

    def __init__(
        self, client: TelegramClient | None = None, *, reply_to: ReplyTo | None = None
    ) -> None:
        self._client = client
        # The stored message this handling answers: its replies are numbered, so a run
        # again after a server stopped mid-turn sends only what was not sent.
        self._reply_to = reply_to

    @classmethod
    def name(cls) -> str:
        """The name Rasa's `output_channel=telegram` picks."""
        return "telegram"

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Send one text to the participant whose conversation this is."""
        await self._deliver(recipient_id, text, [])

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        """Send a text with its buttons as an inline keyboard."""
        await self._deliver(recipient_id, text, [_rasa_button(button) for button in buttons])

    def _telegram_client(self) -> TelegramClient:
        if self._client is None:
            self._client = TelegramClient.from_settings()
        return self._client

    async def _deliver(self, recipient_id: str, text: str, buttons: Sequence[Button]) -> None:
        participant = await asyncio.to_thread(_telegram_participant, recipient_id)
        if participant is None:
            logger.error("telegram: %s is not a Telegram participant; not sent", recipient_id)
            return
        # A reply to the participant's own message goes out after STOP too; what the
        # assistant sends on its own (a prompt, a reminder) does not.
        await deliver_bot_message(
            self._telegram_client(),
            participant,
            text,
            buttons,
            reply_to=self._reply_to,
            ignore_opt_out=self._reply_to is not None,
        )


class TelegramInput(InputChannel):
    """The Telegram webhook; enabled by TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET."""

    def __init__(self) -> None:
        self._client: TelegramClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._queue = InboundQueue(Channel.TELEGRAM, "telegram")
        self._chat_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @property
    def queue(self) -> InboundQueue:
        """Participants' messages waiting to be handled (and the recovery sweep)."""
        return self._queue

    @classmethod
    def name(cls) -> str:
        """Served under /webhooks/telegram/."""
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Secrets come from the settings (the environment), never credentials.yml."""
        return cls()

    def get_output_channel(self) -> OutputChannel | None:
        """So Rasa can message a participant first (`trigger_intent?output_channel=telegram`)."""
        if not get_settings().telegram_enabled:
            return None
        return TelegramOutput(self._telegram_client())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The webhook (503 while Telegram is not enabled)."""
        settings = get_settings()
        if not settings.telegram_enabled:
            return _disabled_blueprint()
        telegram = limit_body(Blueprint("telegram_webhook", __name__))
        on_new_message = guarded(on_new_message, telegram)
        secret = webhook_secret(settings)
        self._client = TelegramClient.from_settings(settings)
        handle = partial(self._handle_stored, on_new_message=on_new_message)
        self._queue.attach(telegram, handle, settings)

        @telegram.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request, secret, on_new_message)

        @telegram.listener("before_server_stop")
        async def finish_updates(app: Any, loop: Any) -> None:
            # Updates still unfinished stay claimed: handled again once the claim runs out.
            if tasks := self._tasks | self._queue.tasks:
                await asyncio.wait(tasks, timeout=STOP_WAIT_SECONDS)

        @telegram.listener("after_server_stop")
        async def close_client(app: Any, loop: Any) -> None:
            if self._client is not None:
                await self._client.aclose()

        return telegram

    async def wait_idle(self) -> None:
        """Wait until every update received so far has been handled."""
        while tasks := self._tasks | self._queue.tasks:
            await asyncio.wait(tasks)

    async def _receive(
        self,
        request: Request,
        secret: str,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> HTTPResponse:
        given = request.headers.get(SECRET_HEADER) or ""
        if not hmac.compare_digest(given.encode(), secret.encode()):
            logger.warning("telegram: webhook call without the right secret token refused")
            return response.json({"error": "forbidden"}, status=403)
        update = _parse_update(request)
        if update is None:
            return response.json({"error": "not a Telegram update"}, status=400)
        staff = await asyncio.to_thread(staff_update_for, update)
        if staff is not None:
            if staff.duplicate:
                return response.json({"status": "duplicate"})
            work = handle_staff_update(staff, self._telegram_client())
            self._in_background(work, update.update_id)
            return response.json({"status": "received"})
        incoming = read_update(update)
        if incoming is None:
            logger.info(
                "telegram: update %s ignored (not a private chat message)", update.update_id
            )
            return response.json({"status": "ignored"})
        claimed = await asyncio.to_thread(_claim, incoming, self._queue.claimant)
        if claimed is None:
            retry = await self._queue.redelivered(update_key(incoming.update_id))
            if retry.state is not RetryState.CLAIMED:
                logger.info("telegram: update %s seen before; dropped", incoming.update_id)
            return response.json({"status": "duplicate"})
        if claimed.participant is None:
            work = self._process(incoming, claimed, on_new_message)
            self._in_background(work, incoming.update_id)
        else:
            self._queue.start(claimed.next)
        return response.json({"status": "received"})

    async def _handle_stored(
        self, stored: Stored, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        """Handle a participant's stored update, as it was handled when it came in."""
        participant = await asyncio.to_thread(_participant, stored.participant_id)
        chat_id = address_of(participant) if participant is not None else None
        if participant is None or chat_id is None:
            logger.warning(
                "telegram: message log %s: the participant's chat is gone", stored.log_id
            )
            return
        incoming = _incoming_from(stored, chat_id)
        claimed = Claimed(stored.log_id, stored.sender_id, participant, rerun=stored.attempt > 1)
        await self._handle(incoming, claimed, on_new_message)

    def _in_background(self, work: Coroutine[Any, Any, None], update_id: int) -> None:
        task = asyncio.create_task(work, name=f"telegram-update-{update_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(
        self,
        incoming: Incoming,
        claimed: Claimed,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        """Handle an unlinked chat's update after its earlier ones; log any failure."""
        lock = self._chat_locks.get(incoming.chat_id)
        if lock is None:
            lock = self._chat_locks[incoming.chat_id] = asyncio.Lock()
        try:
            async with lock:
                await self._handle(incoming, claimed, on_new_message)
        except Exception:
            logger.exception(
                "telegram: update %s (log %s) failed", incoming.update_id, claimed.log_id
            )

    async def _handle(
        self,
        incoming: Incoming,
        claimed: Claimed,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        if incoming.callback_query_id is not None:
            await self._answer_button(incoming.update_id, incoming.callback_query_id)
        participant = claimed.participant
        if participant is None:
            await self._from_unknown_chat(incoming, claimed)
            return
        if incoming.kind is Kind.TEXT and START_COMMAND.fullmatch(incoming.text):
            await self._say(participant, "telegram_linked")
            return
        text = await self._text_for_assistant(incoming, participant)
        if not text:
            await self._say(participant, "text_only")
            return
        match = keyword_of(text, SMS_WORDS)
        if match is not None:
            await self._keyword(participant, match)
            return
        metadata = {"message_log_id": claimed.log_id, "telegram_update_id": incoming.update_id}
        await on_new_message(
            UserMessage(
                text,
                TelegramOutput(
                    self._telegram_client(), reply_to=ReplyTo(claimed.log_id, claimed.rerun)
                ),
                sender_id=participant.sender_id,
                input_channel=self.name(),
                # The same ID however often the update is handled: one emergency escalation.
                message_id=f"telegram-{update_key(incoming.update_id)}",
                metadata=metadata,
            )
        )

    async def _text_for_assistant(self, incoming: Incoming, participant: Participant) -> str:
        """What the participant said, as text ('' for something that is not text)."""
        if incoming.kind is Kind.NOT_TEXT:
            return ""
        if incoming.kind is Kind.BUTTON:
            payload = await self._button_payload(incoming)
            return _as_typed(payload or "")
        text = _as_typed(incoming.text)
        return await asyncio.to_thread(_numbered, participant.id, text) if text else ""

    async def _button_payload(self, incoming: Incoming) -> str | None:
        """The payload of a pressed button; long ones are looked up in the message log."""
        payload = payload_for_callback(incoming.text, [])
        if payload is not None or incoming.button_message_id is None:
            return payload
        buttons = await asyncio.to_thread(
            _buttons_sent, incoming.chat_id, incoming.button_message_id
        )
        payload = payload_for_callback(incoming.text, buttons)
        if payload is None:
            logger.warning("telegram: update %s: button not found", incoming.update_id)
        return payload

    async def _answer_button(self, update_id: int, callback_query_id: str) -> None:
        """Stop the pressed button's spinner (a failure only means it spins a while)."""
        try:
            await self._telegram_client().answer_callback(callback_query_id)
        except SendError as error:
            logger.warning("telegram: update %s: button not answered: %s", update_id, error)

    async def _from_unknown_chat(self, incoming: Incoming, claimed: Claimed) -> None:
        """Link the chat on `/start <code>`; otherwise point them to their study team."""
        start = START_COMMAND.fullmatch(incoming.text) if incoming.kind is Kind.TEXT else None
        if start is None or not start.group(1):
            await self._reply_to_unknown(incoming, claimed, "telegram_unknown_chat")
            return
        participant = await asyncio.to_thread(
            _link, start.group(1), incoming.chat_id, claimed.log_id
        )
        if participant is None:
            logger.info("telegram: update %s: enrollment code not accepted", incoming.update_id)
            await self._reply_to_unknown(incoming, claimed, "telegram_bad_code")
            return
        logger.info(
            "telegram: update %s linked a chat to participant %s",
            incoming.update_id,
            participant.study_id,
        )
        await self._say(participant, "telegram_linked")

    async def _keyword(self, participant: Participant, match: KeywordMatch) -> None:
        """HELP gets the study contact; STOP opts out of everything the assistant sends on
        its own and START back in, as on SMS (the same words, English for everyone), each
        confirmed in the keyword's language. The confirmation goes out even after STOP."""
        if match.keyword is not Keyword.HELP:
            opted_out = match.keyword is Keyword.STOP
            await asyncio.to_thread(_set_opted_out, participant.id, opted_out)
            logger.info(
                "telegram: participant %s opted %s",
                participant.study_id,
                "out" if opted_out else "back in",
            )
        await self._say(
            participant,
            TELEGRAM_KEYWORD_REPLIES[match.keyword],
            match.reply_language(participant.language),
        )

    async def _say(
        self,
        participant: Participant,
        key: str,
        language: str | None = None,
        *,
        ignore_opt_out: bool = True,
    ) -> None:
        """Send a wording in `language` (None: the participant's own language; in each
        language while nobody knows it yet: enrolled without one, their first words tell).
        Each answers something the participant sent, so it goes out after STOP too."""
        if language is None and participant.language_source is None:
            texts = [text for code in LANGUAGES for text in channel_texts(key, code)]
        else:
            texts = channel_texts(key, language or language_or_default(participant.language))
        await deliver(
            self._telegram_client(),
            participant,
            texts,
            language=language,
            ignore_opt_out=ignore_opt_out,
        )

    async def _reply_to_unknown(self, incoming: Incoming, claimed: Claimed, key: str) -> None:
        """Answer a chat no participant has linked: sent once, logged under its chat name."""
        for text in channel_texts(key, DEFAULT_LANGUAGE):
            external_id, status = None, FAILED
            try:
                sent = await self._telegram_client().send_plain(incoming.chat_id, text)
                external_id, status = sent.external_id, SENT
            except SendError as error:
                logger.warning("telegram: update %s: reply failed: %s", incoming.update_id, error)
            await record_message(
                sender_id=claimed.sender_id,
                channel=Channel.TELEGRAM,
                direction=Direction.OUTBOUND,
                text=text,
                external_id=external_id,
                delivery_status=status,
            )

    def _telegram_client(self) -> TelegramClient:
        if self._client is None:
            self._client = TelegramClient.from_settings()
        return self._client


def _disabled_blueprint() -> Blueprint:
    """The webhook while Telegram is not enabled: says so once, answers 503."""
    logger.info(
        "telegram: not enabled; set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET to turn it on"
    )
    telegram = Blueprint("telegram_webhook", __name__)

    @telegram.route("/webhook", methods=["POST"])
    async def disabled(request: Request) -> HTTPResponse:
        return response.json({"error": "Telegram is not enabled"}, status=503)

    return telegram


def _parse_update(request: Request) -> Update | None:
    """The request body as a Telegram update, or None when it is not one."""
    try:
        data = request.json
    except Exception:  # sanic raises InvalidUsage for a body that is not JSON
        return None
    if not isinstance(data, dict):
        return None
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return None
    try:
        return Update.de_json(data, None)
    except Exception:  # PTB raises KeyError, TypeError, ... for a malformed update
        logger.warning("telegram: update %s is malformed", update_id)
        return None
