"""The web app: serves the chat page and relays its messages to Rasa's REST channel."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from bot.core.logs import protect_logs
from bot.core.settings import get_settings
from bot.db.session import database_check
from bot.study.config import current_study
from bot.web.chat_updates import router as chat_updates_router
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


class ChatMessage(BaseModel):
    """A message typed on the chat page."""

    sender: str = Field(..., regex=r"^web-[A-Za-z0-9_-]{6,64}$")
    message: str = Field(..., min_length=1, max_length=1600)


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
    """The participant chat window."""
    study = current_study()
    return templates.TemplateResponse(
        request, "chat.html", {"study_name": study.study.name, "emergency": study.emergency_number}
    )


@app.post("/api/chat")
async def relay_chat(message: ChatMessage) -> JSONResponse:
    """Pass a chat message to the assistant and return its replies."""
    url = f"{get_settings().rasa_url}/webhooks/rest/webhook"
    payload: dict[str, Any] = {"sender": message.sender, "message": message.message}
    try:
        async with httpx.AsyncClient(timeout=RASA_TIMEOUT_SECONDS) as client:
            reply = await client.post(url, json=payload)
    except httpx.HTTPError:
        logger.warning("chat relay: the assistant is not reachable at %s", url)
        return _unavailable()
    if reply.status_code != 200:
        logger.warning("chat relay: the assistant answered %s", reply.status_code)
        return _unavailable()
    return JSONResponse({"messages": reply.json()})


def _unavailable() -> JSONResponse:
    return JSONResponse(
        {"error": "The helper is not answering right now. Please try again in a minute."},
        status_code=503,
    )
