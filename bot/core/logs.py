"""Logging for the project's own processes (the `trialbot` command and the workers).

httpx logs every request's full URL at INFO, and two URLs carry secrets: Rasa's HTTP API
takes its token as `?token=…`, and Telegram's Bot API has the bot token in the path. So
httpx and httpcore log at WARNING at most, whatever LOG_LEVEL says.
"""

from __future__ import annotations

import logging

QUIET_LOGGERS = ("httpx", "httpcore")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    """Log at `level` (a name like "INFO"), never logging request URLs."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
