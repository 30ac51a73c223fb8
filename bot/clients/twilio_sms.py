"""Twilio's REST API for SMS: one small class around `twilio.rest.Client`.

Making a `TwilioSmsClient` calls nothing over the network; the first request is the first
message sent. The twilio library is blocking, so each send runs in a worker thread.
`TWILIO_API_BASE_URL` points it at another server (a stand-in in tests): twilio 8 builds
every API URL from `client.api.base_url`.

Texts are split for SMS here too: a part is at most two SMS segments (300 characters of
plain text; 134 when a character outside the GSM alphabet forces Unicode), cut between
sentences where possible, else between words, never inside a word that fits. Buttons are
written out as numbered options ("Reply 1 for Yes, 2 for No.") after the last part.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from requests import ConnectTimeout, RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bot.clients.base import SendError, Sent
from bot.clients.numbered_options import options_line, with_options
from bot.clients.pace import Pace, provider_pace
from bot.core.settings import Settings, get_settings, require_secret

logger = logging.getLogger(__name__)
# The twilio library logs the headers of every request at INFO: keep that to warnings.
_http_logger = logging.getLogger(f"{__name__}.http")
_http_logger.setLevel(logging.WARNING)

# Where the SMS channel (bot/channels/twilio_sms.py) takes delivery reports, under Rasa's
# /webhooks/<channel name>/ prefix.
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
REQUEST_TIMEOUT_SECONDS = 10.0
# How many of a number's latest messages a lookup of an unanswered send reads.
LOOKUP_LIMIT = 20

# Two concatenated segments hold 306 GSM-7 characters or 134 UTF-16 code units; the
# project keeps participant texts to about 300 characters.
MAX_GSM_CHARACTERS = 300
MAX_UNICODE_UNITS = 134
# Room an options line must leave in the last part before it gets a part of its own.
MIN_TEXT_ROOM = 40
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€\f"  # each takes two characters' room
# Typographic characters that would force a whole message into Unicode, as plain ones.
PLAIN_PUNCTUATION = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
    }
)
# Request errors that will fail again however often they are sent (bad or unsubscribed
# number, message refused); others (auth, rate limits, Twilio down) are worth retrying.
PERMANENT_HTTP_STATUSES = frozenset({400, 404, 422})

_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s*$")


def sms_units(text: str) -> tuple[int, bool]:
    """The room a text takes in an SMS, and whether it fits the GSM alphabet."""
    if all(character in GSM7_BASIC or character in GSM7_EXTENDED for character in text):
        return len(text) + sum(text.count(character) for character in GSM7_EXTENDED), True
    return len(text.encode("utf-16-le")) // 2, False


def segments(text: str) -> int:
    """How many SMS segments a text is sent as (Twilio's throughput counts these)."""
    units, gsm = sms_units(text)
    single, part = (160, 153) if gsm else (70, 67)
    return 1 if units <= single else -(-units // part)


def fits_two_segments(text: str) -> bool:
    """True when a text goes in at most two SMS segments (and about 300 characters)."""
    units, gsm = sms_units(text)
    return units <= (MAX_GSM_CHARACTERS if gsm else MAX_UNICODE_UNITS)


def _sentences(text: str) -> list[str]:
    """Sentences with their trailing space (a line break also ends one)."""
    sentences, current = [], ""
    for word in re.findall(r"\S+\s*", text):
        current += word
        if _SENTENCE_END.search(word) or "\n" in word:
            sentences.append(current)
            current = ""
    return [*sentences, current] if current else sentences


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


_UNIT_LEVELS: tuple[Callable[[str], list[str]], ...] = (_sentences, _words, list)


def _pack(text: str, fits: Callable[[str], bool], level: int = 0) -> list[str]:
    """Greedily fill parts with sentences; split what is too long into words, then letters."""
    parts: list[str] = []
    current = ""
    for unit in _UNIT_LEVELS[level](text):
        if fits((current + unit).strip()):
            current += unit
            continue
        if current.strip():
            parts.append(current.strip())
        current = unit
        if not fits(unit.strip()) and level + 1 < len(_UNIT_LEVELS):
            *whole, current = _pack(unit, fits, level + 1)
            parts.extend(whole)
            current += unit[len(unit.rstrip()) :]
    if current.strip():
        parts.append(current.strip())
    return parts


def split_for_sms(
    text: str, buttons: Sequence[Mapping[str, str]] = (), language: str = "en"
) -> list[str]:
    """The parts to send for a text: each fits two segments, the last with its options."""
    plain = text.translate(PLAIN_PUNCTUATION).strip()
    parts = _pack(plain, fits_two_segments) or [""]
    options = options_line(buttons, language)
    if not options or fits_two_segments(with_options(parts[-1], buttons, language)):
        return parts
    if not fits_two_segments(with_options("x" * MIN_TEXT_ROOM, buttons, language)):
        return parts  # options too long to share a part: send them over two segments
    last = _pack(parts[-1], lambda part: fits_two_segments(with_options(part, buttons, language)))
    return [*parts[:-1], *last]


@dataclass(frozen=True)
class TwilioConfig:
    """What the client needs from the settings (hashable, so a client can be shared)."""

    account_sid: str
    auth_token: str
    from_number: str = ""
    messaging_service_sid: str = ""
    status_callback_url: str = ""
    api_base_url: str = "https://api.twilio.com"

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> TwilioConfig:
        """The Twilio account, sender and addresses from TWILIO_* settings."""
        settings = settings or get_settings()
        webhook_base = settings.twilio_webhook_base_url.rstrip("/")
        return cls(
            account_sid=require_secret("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
            auth_token=require_secret("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
            from_number=settings.twilio_from_number,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            status_callback_url=f"{webhook_base}{STATUS_CALLBACK_PATH}" if webhook_base else "",
            api_base_url=settings.twilio_api_base_url.rstrip("/"),
        )


def _send_error(error: Exception) -> SendError:
    """A SendError that names the failure but never the number or the text."""
    if isinstance(error, TwilioRestException):
        return SendError(
            f"Twilio error {error.code} (HTTP {error.status})",
            permanent=error.status in PERMANENT_HTTP_STATUSES,
        )
    # Only a connection that never opened surely sent nothing; a read timeout or a dropped
    # connection may have come after Twilio took the message.
    return SendError(
        f"could not reach Twilio ({type(error).__name__})",
        maybe_sent=not isinstance(error, ConnectTimeout),
    )


class TwilioSmsClient:
    """Sends SMS through Twilio's REST API (the participant channel and staff alerts)."""

    channel = "sms"

    def __init__(
        self, config: TwilioConfig, *, rest_client: Client | None = None, pace: Pace | None = None
    ) -> None:
        self.config = config
        # Twilio's queue per sender (bot.clients.pace): beyond it a send waits here.
        self._pace = pace or provider_pace(self.channel)
        self._rest = rest_client or Client(
            config.account_sid,
            config.auth_token,
            http_client=TwilioHttpClient(timeout=REQUEST_TIMEOUT_SECONDS, logger=_http_logger),
        )
        self._rest.api.base_url = config.api_base_url

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> TwilioSmsClient:
        """A client for the configured Twilio account (nothing is sent yet)."""
        return cls(TwilioConfig.from_settings(settings))

    async def send(
        self,
        address: str,
        text: str,
        buttons: Sequence[Mapping[str, str]],
        *,
        language: str = "en",
    ) -> Sent:
        """Send one SMS, buttons as numbered options in the participant's language; raise
        SendError when Twilio refuses."""
        body = with_options(text, buttons, language)
        await self._pace.wait(self._sender, segments(body))
        return await asyncio.to_thread(self._create, address, body)

    async def sent_since(
        self,
        address: str,
        text: str,
        buttons: Sequence[Mapping[str, str]],
        *,
        language: str = "en",
        since: datetime,
    ) -> list[Sent]:
        """Twilio's records of this text (as `send` words it) to `address` created since
        `since`, newest first: did a send whose answer never came reach Twilio after all?"""
        body = with_options(text, buttons, language)
        return await asyncio.to_thread(self._list, address, body, since)

    async def send_sms(self, to: str, text: str) -> list[Sent]:
        """Send a plain text (split if long) to any number, e.g. a staff alert."""
        sent = []
        for part in split_for_sms(text):
            await self._pace.wait(self._sender, segments(part))
            sent.append(await asyncio.to_thread(self._create, to, part))
        return sent

    @property
    def _sender(self) -> str:
        """What Twilio queues by: the messaging service, or the number sent from."""
        return self.config.messaging_service_sid or self.config.from_number

    def _list(self, to: str, body: str, since: datetime) -> list[Sent]:
        """One blocking Messages.json list request: the latest messages to `to` from us."""
        arguments: dict[str, Any] = {"to": to, "limit": LOOKUP_LIMIT}
        if not self.config.messaging_service_sid:
            arguments["from_"] = self.config.from_number
        try:
            messages = self._rest.api.account.messages.list(**arguments)
        except (TwilioException, RequestException) as error:
            raise _send_error(error) from error
        return [
            Sent(external_id=message.sid, status=str(message.status or "queued"))
            for message in messages
            if message.sid
            and (message.body or "").strip() == body.strip()
            and message.date_created is not None
            and message.date_created >= since
        ]

    def _create(self, to: str, body: str) -> Sent:
        """One blocking Messages.json request."""
        arguments: dict[str, Any] = {"to": to, "body": body}
        if self.config.messaging_service_sid:
            arguments["messaging_service_sid"] = self.config.messaging_service_sid
        else:
            arguments["from_"] = self.config.from_number
        if self.config.status_callback_url:
            arguments["status_callback"] = self.config.status_callback_url
        try:
            message = self._rest.api.account.messages.create(**arguments)
        except (TwilioException, RequestException) as error:
            raise _send_error(error) from error
        if not message.sid:
            raise SendError("Twilio accepted the message but gave no message SID")
        logger.info("twilio: message %s accepted (%s)", message.sid, message.status)
        return Sent(external_id=message.sid, status=str(message.status or "queued"))
