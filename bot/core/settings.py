"""The one typed settings object: every environment variable the project reads is named here."""

from __future__ import annotations

import contextlib
import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import BaseSettings, Field, validator
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Telegram echoes the webhook secret in a header; a short one can be guessed.
MIN_WEBHOOK_SECRET = 32

# Values that show a secret was copied from an example and never filled in.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "xxx", "todo", "your-key"})


# One part of a rate limit in the `limits` notation: "10/minute", "100 per hour", "5/10 seconds".
RATE_LIMIT_PART = re.compile(
    r"\s*[1-9][0-9]*\s*(/|per)\s*([0-9]+\s*)?(second|minute|hour|day|month|year)s?\s*", re.I
)


class SettingsError(RuntimeError):
    """A setting is missing or holds a placeholder where a real value is needed."""


class Settings(BaseSettings):
    """Configuration read from the environment and an optional `.env` file."""

    data_dir: Path = Field(PROJECT_ROOT / "var", env="DATA_DIR")
    database_url: str = Field("", env="DATABASE_URL")
    study_config: Path = Field(PROJECT_ROOT / "studies" / "example.yml", env="STUDY_CONFIG")
    spacy_model: Path = Field(PROJECT_ROOT / "build" / "spacy" / "trialbot_en", env="SPACY_MODEL")
    rasa_model: Path = Field(PROJECT_ROOT / "models" / "trialbot.tar.gz", env="RASA_MODEL")

    host: str = Field("127.0.0.1", env="HOST")
    # Where the public listener binds (the web app; nginx in production); HOST by default.
    public_host: str = Field("", env="PUBLIC_HOST")
    # Where the internal listeners bind (Rasa's server with its API and webhooks, the
    # action server): never reachable from outside; nginx proxies only /webhooks/ to Rasa.
    internal_host: str = Field("", env="INTERNAL_HOST")
    rasa_port: int = Field(5005, env="RASA_PORT")
    actions_port: int = Field(5055, env="ACTIONS_PORT")
    web_port: int = Field(8000, env="WEB_PORT")
    rasa_url: str = Field("", env="RASA_URL")
    rasa_api_token: str = Field("", env="RASA_API_TOKEN")
    # Where Rasa finds the action server(s): nginx's internal upstream in production.
    action_server_url: str = Field("", env="ACTION_SERVER_URL")
    # Rasa sends it with every action call; the action server refuses calls without it.
    action_server_token: str = Field("", env="ACTION_SERVER_TOKEN")
    public_base_url: str = Field("", env="PUBLIC_BASE_URL")

    # The participant web chat (a demo): unset, it is on only with the embedded SQLite
    # database (`make run`) and off with any other; an explicit true or false wins.
    web_chat_enabled: bool | None = Field(None, env="WEB_CHAT_ENABLED")
    # With the embedded SQLite default, `trialbot run` adds simulated participants and demo
    # console users once (bot/demo/seed.py). Never with another database.
    demo_data: bool = Field(True, env="DEMO_DATA")
    log_level: str = Field("INFO", env="LOG_LEVEL")

    # Encrypts phone numbers and chat IDs at rest (a Fernet key). Unset with the embedded
    # SQLite default: one is made once under DATA_DIR. Required with any other database.
    encryption_key: str = Field("", env="ENCRYPTION_KEY")

    # Signs the staff console's session cookies (at least 32 characters). Unset with the
    # embedded SQLite default: one is made once under DATA_DIR. Required with any other database.
    secret_key: str = Field("", env="SECRET_KEY")

    # SMS through Twilio: enabled when the account SID, auth token and a sender are set.
    twilio_account_sid: str = Field("", env="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str = Field("", env="TWILIO_AUTH_TOKEN")
    twilio_from_number: str = Field("", env="TWILIO_FROM_NUMBER")
    twilio_messaging_service_sid: str = Field("", env="TWILIO_MESSAGING_SERVICE_SID")
    # The public address Twilio calls (the Rasa server behind your proxy): webhook
    # signatures are checked against it.
    twilio_webhook_base_url: str = Field("", env="TWILIO_WEBHOOK_BASE_URL")
    twilio_api_base_url: str = Field("https://api.twilio.com", env="TWILIO_API_BASE_URL")

    # Telegram: enabled when the bot token and the webhook secret are set.
    telegram_bot_token: str = Field("", env="TELEGRAM_BOT_TOKEN")
    telegram_webhook_secret: str = Field("", env="TELEGRAM_WEBHOOK_SECRET")
    telegram_webhook_base_url: str = Field("", env="TELEGRAM_WEBHOOK_BASE_URL")
    telegram_api_base_url: str = Field("https://api.telegram.org", env="TELEGRAM_API_BASE_URL")
    # How fast messages are handed to the providers (bot.clients.pace): Telegram's ~30 a
    # second per bot and ~1 a second per chat; Twilio's queue per sender (throughput in
    # message segments a second x how long its queue may hold them). Empty or 0: no limit.
    telegram_rate_limit: str = Field("30/second", env="TELEGRAM_RATE_LIMIT")
    telegram_chat_rate_limit: str = Field("5/5seconds", env="TELEGRAM_CHAT_RATE_LIMIT")
    twilio_mps: float = Field(1.0, env="TWILIO_MPS", ge=0)
    twilio_queue_seconds: int = Field(14400, env="TWILIO_QUEUE_SECONDS", ge=0)

    # Rasa's RedisLockStore (several Rasa servers serving the same participants in order).
    redis_url: str = Field("", env="REDIS_URL")
    # Rasa's tracker store reads a long conversation's last turns (at least this many, at
    # most twice as many) after a prefix that keeps its state (bot/db/tracker_store.py).
    tracker_window_turns: int = Field(10, env="TRACKER_WINDOW_TURNS", ge=1)

    # Closed to strangers (web app and console)
    # Proxies whose X-Forwarded-For is believed (comma-separated IPs or CIDRs; empty: none).
    # `trialbot run` starts uvicorn with the same --forwarded-allow-ips.
    trusted_proxies: str = Field("", env="TRUSTED_PROXIES")
    # A request body larger than this is refused with 413 before it is read.
    max_request_bytes: int = Field(65536, env="MAX_REQUEST_BYTES", gt=0)
    # Per client address, in the `limits` notation ("10/minute;100/hour"); empty: no limit.
    chat_rate_limit: str = Field("12/minute;200/day", env="CHAT_RATE_LIMIT")
    # Messages from web senders not seen before (each makes a demo participant).
    chat_new_sender_limit: str = Field("3/hour;10/day", env="CHAT_NEW_SENDER_LIMIT")
    chat_updates_rate_limit: str = Field("60/minute", env="CHAT_UPDATES_RATE_LIMIT")
    sign_in_rate_limit: str = Field("10/minute;100/hour", env="SIGN_IN_RATE_LIMIT")
    console_rate_limit: str = Field("600/minute", env="CONSOLE_RATE_LIMIT")

    @validator("trusted_proxies")
    def _check_proxies(cls, value: str) -> str:
        """Comma-separated IP addresses or networks, written the way uvicorn reads them."""
        items = [item.strip() for item in value.split(",") if item.strip()]
        for item in items:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as error:
                raise ValueError(f"{item!r} is not an IP address or network") from error
        return ",".join(items)

    @validator(
        "chat_rate_limit",
        "chat_new_sender_limit",
        "chat_updates_rate_limit",
        "sign_in_rate_limit",
        "console_rate_limit",
    )
    def _check_rate_limit(cls, value: str) -> str:
        """Empty, or limits such as "10/minute;100/hour" (at least 1 per period)."""
        text = value.strip()
        if text and not all(RATE_LIMIT_PART.fullmatch(part) for part in re.split(r"[;,]", text)):
            raise ValueError(f"{value!r} is not a rate limit such as '10/minute;100/hour'")
        return text

    def closed_to_strangers_environment(self) -> dict[str, str]:
        """These settings for the web app and Rasa's web chat channel (child_environment)."""
        return {
            "WEB_CHAT_ENABLED": "true" if self.web_chat_enabled else "false",
            "TRUSTED_PROXIES": self.trusted_proxies,
            "MAX_REQUEST_BYTES": str(self.max_request_bytes),
            "CHAT_RATE_LIMIT": self.chat_rate_limit,
            "CHAT_NEW_SENDER_LIMIT": self.chat_new_sender_limit,
            "CHAT_UPDATES_RATE_LIMIT": self.chat_updates_rate_limit,
            "SIGN_IN_RATE_LIMIT": self.sign_in_rate_limit,
            "CONSOLE_RATE_LIMIT": self.console_rate_limit,
        }

    class Config:
        env_file = PROJECT_ROOT / ".env"
        env_file_encoding = "utf-8"

    @validator("database_url", always=True)
    def _default_database(cls, value: str, values: dict) -> str:
        """SQLite under the data folder unless DATABASE_URL names another database."""
        if value:
            return value
        data_dir: Path = values["data_dir"]
        return f"sqlite:///{data_dir.resolve() / 'trialbot.db'}"

    @validator("public_host", "internal_host", always=True)
    def _default_hosts(cls, value: str, values: dict) -> str:
        """HOST unless the public or internal bind address is set on its own."""
        return value or values["host"]

    @validator("web_chat_enabled", pre=True, always=True)
    def _default_web_chat(cls, value: object, values: dict) -> object:
        """On only with the embedded SQLite database unless WEB_CHAT_ENABLED says otherwise."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return str(values.get("database_url", "")).startswith("sqlite")
        return value

    @validator("rasa_url", always=True)
    def _default_rasa_url(cls, value: str, values: dict) -> str:
        """The Rasa server started by `trialbot run` unless RASA_URL says otherwise."""
        return (value or f"http://{values['internal_host']}:{values['rasa_port']}").rstrip("/")

    @property
    def action_endpoint_url(self) -> str:
        """Where the Rasa server finds the action server (ACTION_SERVER_URL, or the one
        `trialbot run` starts)."""
        base = self.action_server_url or f"http://{self.internal_host}:{self.actions_port}"
        return f"{base.rstrip('/')}/webhook"

    @property
    def web_url(self) -> str:
        """The address of the project's web app (chat page and console)."""
        return (self.public_base_url or f"http://{self.public_host}:{self.web_port}").rstrip("/")

    def lock_store_environment(self) -> dict[str, str]:
        """The variables endpoints.yml's `lock_store` reads: Rasa's own RedisLockStore when
        REDIS_URL is set (needed for more than one Rasa server), in memory otherwise."""
        if not self.redis_url:
            return {
                "LOCK_STORE_TYPE": "in_memory",
                "LOCK_STORE_HOST": "",
                "LOCK_STORE_PORT": "6379",
                "LOCK_STORE_DB": "1",
                "LOCK_STORE_PASSWORD": "",
            }
        parsed = urlsplit(self.redis_url)
        if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
            raise SettingsError(
                f"REDIS_URL must look like redis://host:6379/1, not {parsed.scheme}://…"
            )
        return {
            "LOCK_STORE_TYPE": "redis",
            "LOCK_STORE_HOST": parsed.hostname,
            "LOCK_STORE_PORT": str(parsed.port or 6379),
            "LOCK_STORE_DB": parsed.path.strip("/") or "1",
            "LOCK_STORE_PASSWORD": unquote(parsed.password or ""),
        }

    def channel_problems(self) -> list[str]:
        """What keeps an enabled channel from being safe to expose (empty: nothing)."""
        problems = []
        if self.telegram_bot_token and len(self.telegram_webhook_secret) < MIN_WEBHOOK_SECRET:
            problems.append(
                f"TELEGRAM_WEBHOOK_SECRET must be at least {MIN_WEBHOOK_SECRET} characters "
                "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if self.twilio_enabled and not self.twilio_webhook_base_url:
            problems.append(
                "TWILIO_WEBHOOK_BASE_URL must be set when SMS is on: the public https address "
                "Twilio calls, which the webhook signature is checked against"
            )
        return problems

    def secret_values(self) -> list[str]:
        """Every secret this process knows, as it must never appear in a log."""
        values = [
            self.rasa_api_token,
            self.action_server_token,
            self.encryption_key,
            self.secret_key,
            self.twilio_auth_token,
            self.telegram_bot_token,
            self.telegram_webhook_secret,
        ]
        with contextlib.suppress(Exception):
            values.append(make_url(self.database_url).password or "")
        return [value for value in values if value]

    def child_environment(self) -> dict[str, str]:
        """Variables the Rasa server, action server and web app are started with.

        endpoints.yml reads DATABASE_URL and ACTION_ENDPOINT_URL; the other processes read
        these settings again from the same variables.
        """
        return {
            "DATA_DIR": str(self.data_dir),
            "DATABASE_URL": self.database_url,
            "STUDY_CONFIG": str(self.study_config),
            "SPACY_MODEL": str(self.spacy_model),
            "RASA_URL": self.rasa_url,
            "RASA_API_TOKEN": self.rasa_api_token,
            "ACTION_ENDPOINT_URL": self.action_endpoint_url,
            "ACTION_SERVER_TOKEN": self.action_server_token,
            "LOG_LEVEL": self.log_level,
            "TRACKER_WINDOW_TURNS": str(self.tracker_window_turns),
            **self.lock_store_environment(),
            **self.closed_to_strangers_environment(),
        }

    @property
    def twilio_enabled(self) -> bool:
        """True when SMS can be received and sent."""
        sender = self.twilio_from_number or self.twilio_messaging_service_sid
        return bool(self.twilio_account_sid and self.twilio_auth_token and sender)

    @property
    def telegram_enabled(self) -> bool:
        """True when Telegram can be received and sent."""
        return bool(self.telegram_bot_token and self.telegram_webhook_secret)

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded default database."""
        return self.database_url.startswith("sqlite")

    # Durable inbound handling and worker leases
    # A participant's SMS or Telegram message still waiting this long after it arrived, and
    # held by nobody, is handled by the Rasa server's recovery sweep (bot.channels.inbound_queue).
    inbound_grace_seconds: float = Field(60.0, env="INBOUND_GRACE_SECONDS", gt=0)
    # How often each Rasa server sweeps for such messages (and once at start-up).
    inbound_sweep_seconds: float = Field(30.0, env="INBOUND_SWEEP_SECONDS", gt=0)
    # A Rasa server's claim on a message it is handling; renewed every third of it meanwhile.
    inbound_lease_seconds: float = Field(60.0, env="INBOUND_LEASE_SECONDS", gt=0)
    # An outreach worker's claim on a message it is sending; a message still 'sending' after
    # it belongs to a worker that stopped, and is reconciled (bot.outreach.worker).
    outreach_lease_seconds: float = Field(300.0, env="OUTREACH_LEASE_SECONDS", gt=0)
    # How many due messages one outreach worker sends at once (each participant's one after
    # another); the providers' own limits are kept by the clients (bot.clients.pace).
    outreach_concurrency: int = Field(16, env="OUTREACH_CONCURRENCY", ge=1)


def require_secret(name: str, value: str) -> str:
    """Return a secret's value, refusing an empty or placeholder one with a clear message."""
    if value.strip().lower() in PLACEHOLDER_SECRETS:
        raise SettingsError(
            f"{name} is not set (or still holds a placeholder). Set it in the environment "
            f"or in .env; see README.md, 'Configuration'."
        )
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
