"""The web chat: Rasa's REST channel with input checks and the message log.

The chat page of the project's web app posts `{"sender": "web-…", "message": "…"}` to
`/webhooks/rest/webhook` and gets the assistant's messages back as JSON. Web senders
are demo participants created on first contact; they can never speak as an SMS or
Telegram participant.

The language the visitor picked on the page's English / Español switch comes as
`"metadata": {"language": "en" | "es"}` (only once they have picked one; anything else is
refused with 400). It is stored as the participant's language before the turn (an explicit
choice, so the page and the conversation agree even when a keyword is answered here) and
handed to the assistant as the message's metadata `language`, which the turn guard and
the NLU read as the visitor's explicit choice. Without it, the conversation's language is
the participant's own (detected by the assistant).

HELP or INFO (AYUDA, INFORMACION) gets the study contact and STOP (PARAR, ALTO, DETENER,
"ya no me manden mensajes") says the chat sends nothing on its own
(`bot.channels.keywords`), in Spanish for a Spanish word, else in the conversation's
language; everything else goes to the assistant through `bot.safety.turn_guard`, so even
a failed turn answers (the safe reply, 200).

The channel writes the message log in two transactions per message: the visitor's
participant and the message's row together when it arrives, and the replies' rows
together once the turn is over, before the response that carries them is sent (what is
sent is logged; a turn that ends in an error sends nothing and logs no reply).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import OperationalError

from bot.channels.keywords import WEB_WORDS, Keyword, KeywordMatch, keyword_of
from bot.channels.limits import limit_body
from bot.channels.replies import channel_texts
from bot.core.languages import LANGUAGE_SLOT, LANGUAGES, language_or_default
from bot.core.retry import with_retries
from bot.core.settings import get_settings
from bot.db.models import Channel, Direction
from bot.db.repository import ensure_web_participant, log_message, participant_language
from bot.db.session import session_scope
from bot.participants.language import FROM_PARTICIPANT, set_language
from bot.safety.turn_guard import guarded

logger = logging.getLogger(__name__)

SENDER_PATTERN = re.compile(r"web-[A-Za-z0-9_-]{6,64}")
MAX_MESSAGE_CHARACTERS = 1600


class WebSenderRefused(Exception):
    """The sender ID belongs to a participant on another channel."""


@dataclass(frozen=True)
class WebMessage:
    """A checked chat POST: who, what, and the language the visitor picked (if they did)."""

    sender: str
    text: str
    language: str | None = None


@dataclass(frozen=True)
class WebArrival:
    """A logged chat message: its participant, log ID, keyword and the reply language."""

    participant_id: int
    log_id: int
    keyword: KeywordMatch | None
    # The conversation's language now (a Spanish keyword's own for its confirmation).
    language: str


class LoggedCollectingOutputChannel(CollectingOutputChannel):
    """Collects the assistant's replies for the HTTP response; `record` logs them all."""

    def __init__(self, participant_id: int | None, language: str | None = None) -> None:
        super().__init__()
        self._participant_id = participant_id
        self._language = language

    async def record(self) -> None:
        """Log every collected reply, in one transaction (before they are sent)."""
        if self.messages:
            await asyncio.to_thread(with_retries, self._record, OperationalError)

    def _record(self) -> None:
        with session_scope() as session:
            language = self._language
            if language is None and self._participant_id is not None:
                # The participant's language now, read once for all the rows.
                language = participant_language(
                    session=session, participant_id=self._participant_id
                )
            for message in self.messages:
                log_message(
                    session=session,
                    sender_id=message["recipient_id"],
                    channel=Channel.WEB,
                    direction=Direction.OUTBOUND,
                    text=message.get("text") or "",
                    participant_id=self._participant_id,
                    delivery_status="delivered",
                    language=language,
                )


def _arrive(sender_id: str, text: str, chosen: str | None) -> WebArrival:
    """In one transaction: the sender's web participant (made on first contact), with the
    language they chose, and the message's row in the log."""
    with session_scope() as session:
        participant = ensure_web_participant(session=session, sender_id=sender_id)
        if participant.channel is not Channel.WEB:
            raise WebSenderRefused(sender_id)
        if chosen is not None:
            set_language(participant=participant, language=chosen, source=FROM_PARTICIPANT)
        current = language_or_default(participant.language)
        match = keyword_of(text, WEB_WORDS)
        language = match.reply_language(current) if match else current
        entry = log_message(
            session=session,
            sender_id=sender_id,
            channel=Channel.WEB,
            direction=Direction.INBOUND,
            text=text,
            participant_id=participant.id,
            delivery_status="received",
            language=language,
        )
        return WebArrival(participant.id, entry.id, match, language)


def _bad_request(reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=400)


def parse_web_message(payload: Any) -> WebMessage:
    """Check a chat POST body; raise ValueError with the reason when it is not valid."""
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object with 'sender' and 'message'")
    sender, text = payload.get("sender"), payload.get("message")
    if not isinstance(sender, str) or not SENDER_PATTERN.fullmatch(sender):
        raise ValueError("'sender' must look like 'web-' followed by 6-64 letters or digits")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("'message' must be a non-empty string")
    if len(text) > MAX_MESSAGE_CHARACTERS:
        raise ValueError(f"'message' is longer than {MAX_MESSAGE_CHARACTERS} characters")
    return WebMessage(sender, text.strip(), _chosen_language(payload.get("metadata")))


def _chosen_language(metadata: Any) -> str | None:
    """The language picked on the page's switch (metadata `language`), or None."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise ValueError("'metadata' must be a JSON object")
    language = metadata.get(LANGUAGE_SLOT)
    if language is None:
        return None
    if language not in LANGUAGES:
        raise ValueError(f"'metadata.language' must be one of {', '.join(LANGUAGES)}")
    return str(language)


class WebChatInput(RestInput):
    """Rasa's REST channel for the project's chat page."""

    @classmethod
    def name(cls) -> str:
        """Served under /webhooks/rest/, where Rasa users expect it."""
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The health check and the webhook."""
        web_chat = limit_body(Blueprint("web_chat", __name__))
        on_new_message = guarded(on_new_message, web_chat)
        enabled = get_settings().web_chat_enabled
        if not enabled:
            logger.info("web chat: disabled (WEB_CHAT_ENABLED=false)")

        @web_chat.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if enabled else "disabled"})

        @web_chat.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not enabled:
                return response.json({"error": "the web chat is disabled"}, status=404)
            try:
                message = parse_web_message(_json_body(request))
            except ValueError as error:
                return _bad_request(str(error))
            sender, text = message.sender, message.text
            try:
                arrival = await asyncio.to_thread(
                    with_retries, lambda: _arrive(sender, text, message.language), OperationalError
                )
            except WebSenderRefused:
                return response.json({"error": "this sender is not a web chat"}, status=403)
            match = arrival.keyword
            if match is not None:
                collector = LoggedCollectingOutputChannel(arrival.participant_id, arrival.language)
                reply = "help" if match.keyword is Keyword.HELP else "web_stop"
                for line in await asyncio.to_thread(channel_texts, reply, arrival.language):
                    await collector.send_text_message(sender, line)
                return await _answer(collector, sender)
            metadata: dict[str, Any] = {"message_log_id": arrival.log_id}
            if message.language is not None:
                metadata[LANGUAGE_SLOT] = message.language
            collector = LoggedCollectingOutputChannel(arrival.participant_id)
            try:
                await on_new_message(
                    UserMessage(
                        text,
                        collector,
                        sender,
                        input_channel=self.name(),
                        metadata=metadata,
                    )
                )
            except Exception:
                logger.exception("web chat: the assistant failed on a message of %s", sender)
                return _not_answered()
            return await _answer(collector, sender)

        return web_chat


async def _answer(collector: LoggedCollectingOutputChannel, sender: str) -> HTTPResponse:
    """The replies, once they are logged (none is sent that the log does not have)."""
    try:
        await collector.record()
    except Exception:
        logger.exception("web chat: the replies to %s could not be logged: not sent", sender)
        return _not_answered()
    return response.json(collector.messages)


def _not_answered() -> HTTPResponse:
    return response.json(
        {"error": "the assistant could not answer; the message was saved"}, status=503
    )


def _json_body(request: Request) -> Any:
    try:
        return request.json
    except Exception:  # sanic raises InvalidUsage for a body that is not JSON
        return None
