"""Secrets in request URLs (Rasa's ?token=, Telegram's bot token) never reach the logs."""

from __future__ import annotations

import logging

import httpx
import pytest

from bot.core.logs import configure_logging


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_request_urls_are_not_logged_at_any_level(
    level: str, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging(level)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with caplog.at_level(logging.DEBUG), httpx.Client(transport=transport) as client:
        client.get("http://127.0.0.1:5005/model/parse", params={"token": "s3cret-token"})
        client.get("http://127.0.0.1:9/bot123456:ABC-secret/getMe")
    assert "s3cret-token" not in caplog.text
    assert "ABC-secret" not in caplog.text


def test_a_secret_is_replaced_in_any_library_s_record_args_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.core.logs import protect_logs

    token = "123456:AAE-telegram-bot-token-value"
    protect_logs([token, "short"])
    rasa_like = logging.getLogger("rasa.core.channels.telegram")
    with caplog.at_level(logging.INFO):
        rasa_like.info("POST https://api.telegram.org/bot%s/sendMessage", token)
        rasa_like.info(f"plain f-string with bot{token} in it")
        try:
            raise ConnectionError(f"cannot reach /bot{token}/getMe")
        except ConnectionError:
            rasa_like.exception("send failed")
        rasa_like.info("a short value is not a secret: short")
    text = caplog.text + "".join(record.exc_text or "" for record in caplog.records)
    assert token not in text
    # the message, the f-string, and the traceback (in the handler output and in exc_text)
    assert text.count("[secret]") == 4
    assert "a short value is not a secret: short" in caplog.text


def test_the_settings_name_every_secret_they_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.core.settings import Settings

    settings = Settings(
        rasa_api_token="rasa-token-123",
        telegram_bot_token="123:telegram-token",
        telegram_webhook_secret="webhook-secret-value",
        twilio_auth_token="twilio-auth-token",
        secret_key="session-signing-key",
        encryption_key="fernet-key-value",
        database_url="postgresql://trialbot:db-password-1@127.0.0.1/trialbot",
    )
    assert set(settings.secret_values()) == {
        "rasa-token-123",
        "123:telegram-token",
        "webhook-secret-value",
        "twilio-auth-token",
        "session-signing-key",
        "fernet-key-value",
        "db-password-1",
    }
