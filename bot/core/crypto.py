"""Phone numbers and chat IDs at rest: encrypted (Fernet) and looked up by a keyed hash.

A plain database dump shows neither. The key is ENCRYPTION_KEY; with the embedded SQLite
default and no key set, one is made once and kept under DATA_DIR (mode 0600).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from bot.core.settings import Settings, SettingsError, get_settings, require_secret

logger = logging.getLogger(__name__)

KEY_FILE_NAME = "encryption.key"
_lock = threading.Lock()


def _local_key(settings: Settings) -> str:
    """The key kept under DATA_DIR for the embedded default, made on first use."""
    path = settings.data_dir / KEY_FILE_NAME
    with _lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(Fernet.generate_key().decode())
            logger.info("made a new encryption key at %s (set ENCRYPTION_KEY in production)", path)
        return path.read_text().strip()


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except ValueError as error:
        raise SettingsError(
            "ENCRYPTION_KEY is not a valid key; make one with `.venv/bin/trialbot new-key`"
        ) from error


def encryption_key(settings: Settings | None = None) -> str:
    """The key in use: ENCRYPTION_KEY, else (SQLite only) the local key file."""
    settings = settings or get_settings()
    if settings.encryption_key:
        return require_secret("ENCRYPTION_KEY", settings.encryption_key)
    if settings.is_sqlite:
        return _local_key(settings)
    raise SettingsError("ENCRYPTION_KEY must be set when DATABASE_URL is not the embedded SQLite")


def encrypt(plain: str) -> str:
    """Encrypt a phone number or chat ID for storage."""
    return _fernet(encryption_key()).encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt a stored address; raises ValueError if it was not made with this key."""
    try:
        return _fernet(encryption_key()).decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise ValueError("stored address cannot be decrypted with this ENCRYPTION_KEY") from error


def address_digest(channel: str, address: str) -> str:
    """A keyed hash of a channel address, to find a participant by phone or chat ID."""
    key = hashlib.sha256(b"trialbot-address:" + encryption_key().encode()).digest()
    return hmac.new(key, f"{channel}:{address}".encode(), hashlib.sha256).hexdigest()
