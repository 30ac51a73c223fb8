"""The web chat: Rasa's REST channel with input checks and the message log.

The chat page of the project's web app posts `{"sender": "web-…", "message": "…"}` to
`/webhooks/rest/webhook` and gets the assistant's messages back as JSON. Web senders
are demo participants created on first contact; they can never speak as an SMS or
Telegram participant.

HELP or INFO gets the study contact and STOP says the chat sends nothing on its own
(`bot.channels.keywords`); everything else goes to the assistant through
`bot.safety.turn_guard`, so even a failed turn answers (the safe reply, 200).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.keywords import WEB_WORDS, Keyword, keyword_of
from bot.channels.limits import limit_body
from bot.core.settings import get_settings
from bot.db.models import Channel, Direction
from bot.db.repository import ensure_web_participant
from bot.db.session import session_scope
from bot.messaging.message_log import record_message
from bot.safety.turn_guard import guarded
from bot.study.config import current_study
from bot.study.wording import messages

logger = logging.getLogger(__name__)

SENDER_PATTERN = re.compile(r"web-[A-Za-z0-9_-]{6,64}")
MAX_MESSAGE_CHARACTERS = 1600


class WebSenderRefused(Exception):
    """The sender ID belongs to a participant on another channel."""


class LoggedCollectingOutputChannel(CollectingOutputChannel):
    """Collects the assistant's replies for the HTTP response and logs each one."""

    def __init__(self, participant_id: int | None) -> None:
        super().__init__()
        self._participant_id = participant_id

    async def _persist_message(self, message: dict[str, Any]) -> None:
        await super()._persist_message(message)
        await record_message(
            sender_id=message["recipient_id"],
            channel=Channel.WEB,
            direction=Direction.OUTBOUND,
            text=message.get("text") or "",
            participant_id=self._participant_id,
            delivery_status="delivered",
        )


def _web_participant_id(sender_id: str) -> int:
    with session_scope() as session:
        participant = ensure_web_participant(session=session, sender_id=sender_id)
        if participant.channel is not Channel.WEB:
            raise WebSenderRefused(sender_id)
        return participant.id


def _bad_request(reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=400)


def parse_web_message(payload: Any) -> tuple[str, str]:
    """Check a chat POST body; return (sender, message) or raise ValueError with the reason."""
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object with 'sender' and 'message'")
    sender, text = payload.get("sender"), payload.get("message")
    if not isinstance(sender, str) or not SENDER_PATTERN.fullmatch(sender):
        raise ValueError("'sender' must look like 'web-' followed by 6-64 letters or digits")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("'message' must be a non-empty string")
    if len(text) > MAX_MESSAGE_CHARACTERS:
        raise ValueError(f"'message' is longer than {MAX_MESSAGE_CHARACTERS} characters")
    return sender, text.strip()


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
                sender, text = parse_web_message(_json_body(request))
            except ValueError as error:
                return _bad_request(str(error))
            try:
                participant_id = await asyncio.to_thread(_web_participant_id, sender)
            except WebSenderRefused:
                return response.json({"error": "this sender is not a web chat"}, status=403)
            log_id = await record_message(
                sender_id=sender,
                channel=Channel.WEB,
                direction=Direction.INBOUND,
                text=text,
                participant_id=participant_id,
                delivery_status="received",
            )
            collector = LoggedCollectingOutputChannel(participant_id)
            keyword = keyword_of(text, WEB_WORDS)
            if keyword is not None:
                reply = "help" if keyword is Keyword.HELP else "web_stop"
                for line in messages(current_study(), reply):
                    await collector.send_text_message(sender, line)
                return response.json(collector.messages)
            try:
                await on_new_message(
                    UserMessage(
                        text,
                        collector,
                        sender,
                        input_channel=self.name(),
                        metadata={"message_log_id": log_id},
                    )
                )
            except Exception:
                logger.exception("web chat: the assistant failed on a message of %s", sender)
                return response.json(
                    {"error": "the assistant could not answer; the message was saved"},
                    status=503,
                )
            return response.json(collector.messages)

        return web_chat


def _json_body(request: Request) -> Any:
    try:
        return request.json
    except Exception:  # sanic raises InvalidUsage for a body that is not JSON
        return None
