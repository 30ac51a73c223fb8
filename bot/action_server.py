"""`python -m bot.action_server`: rasa_sdk's action server for `bot.actions`, closed to
everyone but the Rasa server, with a health check of what it needs.

rasa_sdk serves any caller: a forged `action_emergency` call would store escalations and
page staff. This starts the same server (`rasa_sdk.endpoint.create_app`) with two
additions:

- every call to `/webhook` and `/actions` must carry the ACTION_SERVER_TOKEN that Rasa
  sends (`action_endpoint.token` in endpoints.yml, as `?token=`); a call without it gets
  401 and runs nothing. Without a token set the server only starts on the embedded SQLite
  demo database, and says so;
- `GET /healthz` checks the database the actions write to (200, or 503 with the reason);
  rasa_sdk's own `/health` stays as it is.

It listens on --host and --port (by default INTERNAL_HOST and ACTIONS_PORT).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import os
import sys
from collections.abc import Sequence

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core.logs import configure_logging
from bot.core.settings import Settings, SettingsError, get_settings
from bot.db.session import database_check

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/healthz"})


def build_app(settings: Settings) -> Sanic:
    """The action server's Sanic app for `bot.actions`, with the token check and /healthz."""
    token = settings.action_server_token
    if not token and not settings.is_sqlite:
        raise SettingsError(
            "ACTION_SERVER_TOKEN is not set: the action server would run actions for anyone"
        )
    if not token:
        logger.warning("action server: no ACTION_SERVER_TOKEN; open to local callers (demo)")
    app = create_app("bot.actions", cors_origins=None)

    @app.middleware("request")
    async def require_token(request: Request) -> HTTPResponse | None:
        if not token or request.path in OPEN_PATHS:
            return None
        given = request.args.get("token", "")
        if hmac.compare_digest(given.encode(), token.encode()):
            return None
        logger.warning("action server: refused a call to %s without the token", request.path)
        return response.json({"error": "a valid token is required"}, status=401)

    @app.route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> HTTPResponse:
        checks = {"database": await asyncio.to_thread(database_check, settings.database_url)}
        healthy = checks["database"] == "ok"
        return response.json(
            {"status": "ok" if healthy else "failing", "checks": checks},
            status=200 if healthy else 503,
        )

    return app


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bot.action_server [--host HOST] [--port PORT]`: serve until stopped."""
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m bot.action_server")
    parser.add_argument("--host", default=os.environ.get("SANIC_HOST", settings.internal_host))
    parser.add_argument("--port", type=int, default=settings.actions_port)
    args = parser.parse_args(argv)
    configure_logging(settings.log_level)
    try:
        app = build_app(settings)
    except SettingsError as error:
        sys.stderr.write(f"bot.action_server: {error}\n")
        return 2
    logger.info("action server on http://%s:%s", args.host, args.port)
    app.run(args.host, args.port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
