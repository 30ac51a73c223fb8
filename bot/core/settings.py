"""The one typed settings object: every environment variable the project reads is named here."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseSettings, Field, validator

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Values that show a secret was copied from an example and never filled in.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "xxx", "todo", "your-key"})


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
    rasa_port: int = Field(5005, env="RASA_PORT")
    actions_port: int = Field(5055, env="ACTIONS_PORT")
    web_port: int = Field(8000, env="WEB_PORT")
    rasa_url: str = Field("", env="RASA_URL")
    rasa_api_token: str = Field("", env="RASA_API_TOKEN")
    public_base_url: str = Field("", env="PUBLIC_BASE_URL")

    web_chat_enabled: bool = Field(True, env="WEB_CHAT_ENABLED")
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

    @validator("rasa_url", always=True)
    def _default_rasa_url(cls, value: str, values: dict) -> str:
        """The Rasa server started by `trialbot run` unless RASA_URL says otherwise."""
        return (value or f"http://{values['host']}:{values['rasa_port']}").rstrip("/")

    @property
    def action_endpoint_url(self) -> str:
        """Where the Rasa server finds the action server."""
        return f"http://{self.host}:{self.actions_port}/webhook"

    @property
    def web_url(self) -> str:
        """The address of the project's web app (chat page and console)."""
        return (self.public_base_url or f"http://{self.host}:{self.web_port}").rstrip("/")

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
            "LOG_LEVEL": self.log_level,
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
