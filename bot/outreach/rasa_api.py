"""Rasa's HTTP API, as the outreach worker uses it: one small client class (httpx).

`trigger_intent` runs an intent in a conversation as if the participant had said it, and
sends the assistant's replies through the named input channel's output channel
(`POST /conversations/<sender_id>/trigger_intent?output_channel=<name>&token=<token>`).
When Rasa has no channel of that name it answers with the replies in the body instead of
sending them; that is reported as an error, since nothing reached the participant.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import quote

import httpx

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 60.0


class RasaApiError(Exception):
    """Rasa answered with an error, or may have handled the request: do not repeat it."""


class RasaUnavailable(RasaApiError):
    """Rasa could not be reached: the request certainly did not arrive, so it may be retried."""


class RasaApi:
    """A client for the Rasa server's HTTP API (started with --enable-api --auth-token)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._transport = transport

    async def trigger_intent(
        self,
        *,
        sender_id: str,
        intent: str,
        output_channel: str,
        entities: Mapping[str, str] | None = None,
    ) -> None:
        """Run `intent` in the conversation; its replies go out on `output_channel`."""
        url = f"{self._base_url}/conversations/{quote(sender_id, safe='')}/trigger_intent"
        params = {"output_channel": output_channel, "token": self._token}
        body = {"name": intent, "entities": dict(entities or {})}
        try:
            async with httpx.AsyncClient(
                timeout=self._timeout, transport=self._transport
            ) as client:
                reply = await client.post(url, params=params, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise RasaUnavailable(f"Rasa is not reachable: {type(error).__name__}") from error
        except httpx.HTTPError as error:
            raise RasaApiError(f"Rasa did not answer: {type(error).__name__}") from error
        _check(reply, output_channel)


def _check(reply: httpx.Response, output_channel: str) -> None:
    """Raise RasaApiError unless Rasa sent the replies through the output channel."""
    if reply.status_code in (401, 403):
        raise RasaApiError(f"Rasa refused the API token (HTTP {reply.status_code})")
    if reply.status_code >= 400:
        raise RasaApiError(f"Rasa answered HTTP {reply.status_code}")
    try:
        payload = reply.json()
    except ValueError as error:
        raise RasaApiError("Rasa's answer was not JSON") from error
    if isinstance(payload, dict) and "messages" in payload:
        raise RasaApiError(
            f"Rasa has no output channel {output_channel!r}: the replies were not sent"
        )
