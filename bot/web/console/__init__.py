"""The staff console: server-rendered pages under /console for study staff and researchers.

`mount_console(app)` adds it to the web app: the session middleware (signed cookie), the
pages, and the error pages (bot.web.console.errors: "not signed in", "not allowed", a
wrong address, a bad ID, a fault), which serve the whole app.
"""

from __future__ import annotations

from fastapi import FastAPI

from bot.core.settings import get_settings
from bot.web.console.accounts import router as accounts_router
from bot.web.console.audit_log import router as audit_log_router
from bot.web.console.errors import install_error_pages
from bot.web.console.handoff import router as handoff_router
from bot.web.console.ledger import router as ledger_router
from bot.web.console.live_queue import router as live_queue_router
from bot.web.console.participant_details import router as participant_details_router
from bot.web.console.research import router as research_router
from bot.web.console.review import router as review_router
from bot.web.console.routes import router
from bot.web.console.sessions import ConsoleMiddleware, cookie_options


def mount_console(app: FastAPI) -> None:
    """Serve the console under /console (SettingsError now if SECRET_KEY will not do)."""
    app.add_middleware(ConsoleMiddleware, **cookie_options(get_settings()))
    app.include_router(router)
    app.include_router(live_queue_router)
    app.include_router(handoff_router)
    app.include_router(ledger_router)
    app.include_router(research_router)
    app.include_router(review_router)
    app.include_router(accounts_router)
    app.include_router(audit_log_router)
    app.include_router(participant_details_router)
    install_error_pages(app)
