"""Whether the participant web chat is served (WEB_CHAT_ENABLED; off with PostgreSQL unless
switched on), and what the chat page and its API say when it is not.
"""

from __future__ import annotations

from fastapi.responses import HTMLResponse, JSONResponse

from bot.core.settings import get_settings

WEB_CHAT_OFF = "The web chat is switched off on this server."
OFF_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Web chat off</title>'
    f"</head><body><p>{WEB_CHAT_OFF}</p></body></html>"
)


def web_chat_on() -> bool:
    """True when the web chat is served."""
    return bool(get_settings().web_chat_enabled)


def chat_api_off() -> JSONResponse:
    """The chat API's answer while the web chat is off (404)."""
    return JSONResponse({"error": WEB_CHAT_OFF}, status_code=404)


def chat_page_off() -> HTMLResponse:
    """The chat page's answer while the web chat is off (404, one line)."""
    return HTMLResponse(OFF_PAGE, status_code=404)
