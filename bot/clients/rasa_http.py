"""The Rasa server's HTTP API (started with --enable-api --auth-token): one small client.

- `trigger_intent` runs an intent in a conversation as if the participant had said it and
  sends the assistant's replies through the named input channel's output channel
  (`POST /conversations/<id>/trigger_intent?output_channel=<name>`). When Rasa has no
  channel of that name it answers with the replies in the body instead of sending them:
  that is an error, since nothing reached the participant.
- `parse` runs the NLU alone (`POST /model/parse`); `replace_events` writes a whole tracker
  (`PUT …/tracker/events`): the demo uses both to give its simulated messages the model's
  real predictions.
- `pause` / `resume` append Rasa's pause and resume events (`POST …/tracker/events`):
  while paused, Rasa still reads each message (NLU runs) but predicts no action, so the
  assistant stays quiet while a person talks (bot.safety.turn_guard keeps the
  emergency check).

One connection pool per client and event loop: making an `httpx.AsyncClient` builds an
SSL context (~35 ms of CPU), which for a worker sending thousands of prompts was most of
its time. Idle connections are dropped after KEEPALIVE_SECONDS, before the Rasa server
(Sanic keeps them 5 s) closes them. `aclose` closes the pool.

`RasaUnavailable` means the request certainly did not arrive (no connection), so it may be
retried; any other `RasaApiError` means it may have been handled: do not repeat it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from bot.core.settings import Settings, get_settings, require_secret

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 60.0
KEEPALIVE_SECONDS = 2.0


class RasaApiError(Exception):
    """Rasa answered with an error, or may have handled the request: do not repeat it."""


class RasaUnavailable(RasaApiError):
    """Rasa could not be reached: the request certainly did not arrive, so it may be retried."""


class RasaHttpApi:
    """A client for the conversation endpoints of Rasa's HTTP API."""

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
        self._pool: httpx.AsyncClient | None = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RasaHttpApi:
        """A client for RASA_URL with RASA_API_TOKEN."""
        settings = settings or get_settings()
        return cls(settings.rasa_url, require_secret("RASA_API_TOKEN", settings.rasa_api_token))

    async def trigger_intent(
        self,
        *,
        sender_id: str,
        intent: str,
        output_channel: str,
        entities: Mapping[str, str] | None = None,
    ) -> None:
        """Run `intent` in the conversation; its replies go out on `output_channel`."""
        body = {"name": intent, "entities": dict(entities or {})}
        payload = await self._request(
            "POST", sender_id, "trigger_intent", json=body, output_channel=output_channel
        )
        if "messages" in payload:
            raise RasaApiError(
                f"Rasa has no output channel {output_channel!r}: the replies were not sent"
            )

    async def run_unsent(
        self, *, sender_id: str, intent: str, entities: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run `intent` in the conversation with its replies collected, not sent; they are
        returned (a turn whose replies someone else already sent: bot.outreach.deferred)."""
        body = {"name": intent, "entities": dict(entities or {})}
        payload = await self._request("POST", sender_id, "trigger_intent", json=body)
        return list(payload.get("messages") or [])

    async def pause(self, sender_id: str) -> None:
        """Stop the assistant answering in this conversation."""
        await self._request("POST", sender_id, "tracker/events", json={"event": "pause"})
        logger.info("conversation %s paused", sender_id)

    async def resume(self, sender_id: str) -> None:
        """Let the assistant answer again."""
        await self._request("POST", sender_id, "tracker/events", json={"event": "resume"})
        logger.info("conversation %s resumed", sender_id)

    async def parse(self, text: str) -> dict[str, Any]:
        """What the NLU makes of a text (intent ranking, entities, FAQ topic); no dialogue."""
        return await self._call("POST", f"{self._base_url}/model/parse", json={"text": text})

    async def replace_events(self, sender_id: str, events: list[dict[str, Any]]) -> None:
        """Set a conversation's whole tracker to these events (it replaces any there)."""
        await self._request("PUT", sender_id, "tracker/events", json=events)

    async def has_trigger(self, sender_id: str, entity: str, value: str) -> bool:
        """True when the conversation took in a triggered intent carrying this entity value
        (how a worker that died mid-send tells whether its request reached Rasa)."""
        tracker = await self._request("GET", sender_id, "tracker")
        for event in tracker.get("events") or []:
            if event.get("event") != "user":
                continue
            for found in (event.get("parse_data") or {}).get("entities") or []:
                if found.get("entity") == entity and str(found.get("value")) == value:
                    return True
        return False

    async def is_paused(self, sender_id: str) -> bool:
        """True while the conversation is paused."""
        tracker = await self._request("GET", sender_id, "tracker")
        return bool(tracker.get("paused"))

    async def health(self) -> str:
        """ "ok" when the Rasa server's health check passes; otherwise what went wrong."""
        try:
            async with httpx.AsyncClient(timeout=5, transport=self._transport) as client:
                reply = await client.get(f"{self._base_url}/webhooks/health/")
        except httpx.HTTPError as error:
            return type(error).__name__
        return "ok" if reply.status_code == 200 else f"answered {reply.status_code}"

    def _client(self) -> httpx.AsyncClient:
        """This event loop's connection pool (made on first use; a client is tied to the
        loop its connections were opened in)."""
        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool_loop is not loop or self._pool.is_closed:
            self._pool = httpx.AsyncClient(
                timeout=self._timeout,
                transport=self._transport,
                limits=httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS),
            )
            self._pool_loop = loop
        return self._pool

    async def aclose(self) -> None:
        """Close the connection pool (a later request opens a new one)."""
        if self._pool is not None and self._pool_loop is asyncio.get_running_loop():
            await self._pool.aclose()
        self._pool = self._pool_loop = None

    async def _request(
        self,
        method: str,
        sender_id: str,
        path: str,
        *,
        json: dict[str, Any] | list[dict[str, Any]] | None = None,
        output_channel: str | None = None,
    ) -> dict[str, Any]:
        url = f"{self._base_url}/conversations/{quote(sender_id, safe='')}/{path}"
        return await self._call(method, url, json=json, output_channel=output_channel)

    async def _call(
        self,
        method: str,
        url: str,
        *,
        json: dict[str, Any] | list[dict[str, Any]] | None = None,
        output_channel: str | None = None,
    ) -> dict[str, Any]:
        params = {"token": self._token}
        if output_channel:
            params["output_channel"] = output_channel
        try:
            reply = await self._client().request(method, url, params=params, json=json)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise RasaUnavailable(f"Rasa is not reachable: {type(error).__name__}") from error
        except httpx.HTTPError as error:
            raise RasaApiError(f"Rasa did not answer: {type(error).__name__}") from error
        if reply.status_code in (401, 403):
            raise RasaApiError(f"Rasa refused the API token (HTTP {reply.status_code})")
        if reply.status_code >= 400:
            raise RasaApiError(f"Rasa answered HTTP {reply.status_code}")
        try:
            body = reply.json()
        except ValueError as error:
            raise RasaApiError("Rasa's answer was not JSON") from error
        return body if isinstance(body, dict) else {}
