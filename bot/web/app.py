"""The web app: serves the chat page and relays its messages to Rasa's REST channel.

Closed to strangers: the chat is served only when WEB_CHAT_ENABLED (bot.web.chat_switch),
each address has rate limits (bot.web.throttle) resolved without believing anyone's
X-Forwarded-For but the trusted proxies' (bot.web.client_address), and bodies over
MAX_REQUEST_BYTES are refused before they are read (bot.web.body_limit).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from bot.core.languages import LANGUAGE_SLOT, LANGUAGES
from bot.core.logs import protect_logs
from bot.core.settings import get_settings
from bot.db.repository import get_participant_by_sender
from bot.db.session import database_check, session_scope
from bot.study.config import current_study
from bot.web import throttle
from bot.web.body_limit import BodySizeLimitMiddleware
from bot.web.chat_page import page_texts, switch_choices
from bot.web.chat_switch import chat_api_off, chat_page_off, web_chat_on
from bot.web.chat_updates import router as chat_updates_router
from bot.web.client_address import ClientAddressMiddleware
from bot.web.console import mount_console

logger = logging.getLogger(__name__)
protect_logs()  # uvicorn's process: no secret in its logs either

HERE = Path(__file__).resolve().parent
RASA_TIMEOUT_SECONDS = 30.0
HEALTH_TIMEOUT_SECONDS = 3.0

app = FastAPI(title="Trial Companion", docs_url=None, redoc_url=None, openapi_url=None)
app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
templates = Jinja2Templates(directory=str(HERE / "templates"))
mount_console(app)
app.include_router(chat_updates_router)
# Added last, so they run first (outermost last): the client address, the body size, the
# rate limits, then the console's sessions.
app.add_middleware(throttle.RateLimitMiddleware)
app.add_middleware(BodySizeLimitMiddleware)
app.add_middleware(ClientAddressMiddleware)


class ChatMessage(BaseModel):
    """A message typed on the chat page, and the language picked on its switch (if any)."""

    sender: str = Field(..., regex=r"^web-[A-Za-z0-9_-]{6,64}$")
    message: str = Field(..., min_length=1, max_length=1600)
    language: str | None = Field(None, regex=f"^({'|'.join(LANGUAGES)})$")


@app.get("/healthz")
async def healthz() -> JSONResponse:
    """What the web app needs: its database and the Rasa server (200, or 503 and why)."""
    checks = {"database": await asyncio.to_thread(database_check)}
    try:
        async with httpx.AsyncClient(timeout=HEALTH_TIMEOUT_SECONDS) as client:
            rasa = await client.get(f"{get_settings().rasa_url}/webhooks/health/")
        checks["rasa"] = "ok" if rasa.status_code == 200 else f"answered {rasa.status_code}"
    except httpx.HTTPError as error:
        checks["rasa"] = type(error).__name__
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "failing", "checks": checks},
        status_code=200 if healthy else 503,
    )


@app.get("/", response_class=HTMLResponse)
async def chat_page(request: Request) -> HTMLResponse:
    """The participant chat window (a short 404 page while the web chat is off)."""
    if not web_chat_on():
        return chat_page_off()
    study = current_study()
    context = {
        "texts": page_texts(study),
        "choices": switch_choices(),
        "emergency": study.emergency_number,
    }
    return templates.TemplateResponse(request, "chat.html", context)


@app.post("/api/chat")
async def relay_chat(message: ChatMessage, request: Request) -> Response:
    """Pass a chat message to the assistant and return its replies.

    Body: `{"sender": "web-…", "message": "…", "language": "en" | "es"}`, the language only
    once the visitor picked one on the page's switch; it goes to Rasa's web chat channel
    as the message's metadata (`{"language": "es"}`), which stores it as the visitor's
    language. Answer: `{"messages": [...], "language": "en" | "es" | null}`, the
    conversation's language after this turn (it changes when the visitor types
    "español", or when the assistant detects it), so the page can follow it.

    A sender the database does not know yet becomes a demo participant on the Rasa side:
    each address may start only a few (CHAT_NEW_SENDER_LIMIT).
    """
    if not web_chat_on():
        return chat_api_off()
    if not await run_in_threadpool(_known_sender, message.sender):
        host = request.client.host if request.client else "unknown"
        retry_after = throttle.hit(throttle.NEW_SENDER, host)
        if retry_after is not None:
            return throttle.too_many_requests(request.url.path, retry_after)
    url = f"{get_settings().rasa_url}/webhooks/rest/webhook"
    payload: dict[str, Any] = {"sender": message.sender, "message": message.message}
    if message.language is not None:
        payload["metadata"] = {LANGUAGE_SLOT: message.language}
    try:
        async with httpx.AsyncClient(timeout=RASA_TIMEOUT_SECONDS) as client:
            reply = await client.post(url, json=payload)
    except httpx.HTTPError:
        logger.warning("chat relay: the assistant is not reachable at %s", url)
        return _unavailable()
    if reply.status_code != 200:
        logger.warning("chat relay: the assistant answered %s", reply.status_code)
        return _unavailable()
    language = await run_in_threadpool(_conversation_language, message.sender)
    return JSONResponse({"messages": reply.json(), "language": language})


def _known_sender(sender_id: str) -> bool:
    """True when the sender already has a participant (a conversation already started)."""
    with session_scope() as session:
        return get_participant_by_sender(session=session, sender_id=sender_id) is not None


def _conversation_language(sender_id: str) -> str | None:
    """The web participant's language now ("en", "es"), or None when not known."""
    with session_scope() as session:
        participant = get_participant_by_sender(session=session, sender_id=sender_id)
        language = participant.language if participant is not None else None
    return language if language in LANGUAGES else None


def _unavailable() -> JSONResponse:
    return JSONResponse(
        {"error": "The helper is not answering right now. Please try again in a minute."},
        status_code=503,
    )
