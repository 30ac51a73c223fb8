"""Logging that never writes a secret, in every process of the project.

Two guards, installed by `protect_logs` in each process (the `trialbot` command and the
workers through `configure_logging`; the Rasa server through `bot.channels`, the action
server through `bot.actions`, the web app through `bot.web.app`, all at import):

- httpx and httpcore log at WARNING at most, whatever LOG_LEVEL says: httpx logs every
  request's full URL at INFO, and two URLs carry secrets (Rasa's HTTP API takes its
  token as `?token=…`; Telegram's Bot API has the bot token in its path).
- Every log record, from any library, has each configured secret replaced by `[secret]`
  before any handler sees it (a record factory, so handlers Rasa or uvicorn install later
  are covered too). The secrets are the settings' secret fields that are set (API tokens,
  webhook secrets, the session and encryption keys, the database password).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

QUIET_LOGGERS = ("httpx", "httpcore")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[secret]"
# Shorter values are not treated as secrets (they would redact ordinary words).
MIN_SECRET_LENGTH = 8

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
_installed = False


def configure_logging(level: str) -> None:
    """Log at `level` (a name like "INFO"), never logging request URLs or secrets."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    protect_logs()


def protect_logs(secrets: Iterable[str] | None = None) -> None:
    """Quiet the URL-logging libraries and redact secrets from every record (idempotent).

    `secrets` defaults to the settings' own (`Settings.secret_values`).
    """
    global _secrets, _installed
    if secrets is None:
        from bot.core.settings import get_settings

        secrets = get_settings().secret_values()
    values = sorted(
        {value for value in secrets if value and len(value) >= MIN_SECRET_LENGTH},
        key=len,
        reverse=True,  # a secret that contains another is replaced whole
    )
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    with _lock:
        _secrets = tuple(values)
        if _installed:
            return
        _installed = True
        previous = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _secrets:
                _redact(record)
            return record

        logging.setLogRecordFactory(redacting_factory)


def redact(text: str) -> str:
    """`text` with every known secret replaced."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: leave it to the handler to report
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        # Formatted now, as handlers would, so a secret in an error message is caught too.
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
