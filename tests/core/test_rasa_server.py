"""Rasa's API token reaches Rasa from the environment, never from the command line."""

from __future__ import annotations

import os
import sys

import pytest

from bot.core.settings import Settings
from bot.rasa_server import rasa_arguments
from bot.supervisor import process_commands, process_environment


def test_the_token_is_in_no_process_command_line_only_in_the_environment() -> None:
    settings = Settings(rasa_api_token="a-very-secret-rasa-token")
    commands = process_commands(settings)

    assert all("a-very-secret-rasa-token" not in command for command in commands.values())
    assert "-m bot.rasa_server" in commands["rasa"] and "--enable-api" in commands["rasa"]
    assert process_environment(settings)["RASA_API_TOKEN"] == "a-very-secret-rasa-token"


def test_rasa_gets_the_token_in_memory() -> None:
    assert rasa_arguments(["--enable-api"], {"RASA_API_TOKEN": "t0ken-value"}) == [
        "run",
        "--enable-api",
        "--auth-token",
        "t0ken-value",
    ]
    assert rasa_arguments(["--enable-api"], {}) == ["run", "--enable-api"]
    with pytest.raises(SystemExit):
        rasa_arguments(["--auth-token", "leaked"], {})


def test_an_exposed_channel_must_have_a_strong_secret_and_its_public_address() -> None:
    weak = Settings(telegram_bot_token="123:abc", telegram_webhook_secret="short")
    assert any("TELEGRAM_WEBHOOK_SECRET" in problem for problem in weak.channel_problems())
    strong = Settings(telegram_bot_token="123:abc", telegram_webhook_secret="x" * 32)
    assert strong.channel_problems() == []

    sms = {"twilio_account_sid": "AC1", "twilio_auth_token": "t" * 32, "twilio_from_number": "+1"}
    assert any("TWILIO_WEBHOOK_BASE_URL" in p for p in Settings(**sms).channel_problems())
    assert Settings(**sms, twilio_webhook_base_url="https://x.org").channel_problems() == []


def test_the_rasa_server_refuses_to_start_with_an_unsafe_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.core.settings import get_settings
    from bot.rasa_server import main

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "guessable")
    get_settings.cache_clear()
    with pytest.raises(SystemExit, match="TELEGRAM_WEBHOOK_SECRET must be at least 32"):
        main(["--enable-api"])
    get_settings.cache_clear()


def test_rasa_starts_with_the_projects_patches_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    import rasa.__main__
    from rasa.core.actions.action import RemoteAction

    from bot.core.rasa_patches import PATCH_MARK
    from bot.core.settings import get_settings
    from bot.rasa_server import main

    # Rasa as shipped (another test may have patched it already in this process).
    shipped = RemoteAction._validate_action_result
    shipped = getattr(shipped, "__wrapped__", shipped)
    monkeypatch.setattr(RemoteAction, "_validate_action_result", shipped)
    patched_when_rasa_starts: list[bool] = []

    def rasa_main() -> None:
        patched = getattr(RemoteAction._validate_action_result, PATCH_MARK, False)
        patched_when_rasa_starts.append(patched)

    monkeypatch.setattr(rasa.__main__, "main", rasa_main)
    monkeypatch.setattr(sys, "argv", ["python -m bot.rasa_server"])
    monkeypatch.setattr(os, "environ", dict(os.environ))  # main() sets Rasa's variables
    get_settings.cache_clear()
    main(["--enable-api"])
    get_settings.cache_clear()

    assert patched_when_rasa_starts == [True]


def test_public_and_internal_listeners_bind_separately() -> None:
    settings = Settings(host="127.0.0.1", public_host="192.0.2.10", internal_host="10.0.0.5")
    commands = process_commands(settings)
    assert "--host 192.0.2.10" in commands["web"]
    assert "--interface 10.0.0.5" in commands["rasa"]
    assert process_environment(settings)["SANIC_HOST"] == "10.0.0.5"  # the action server
    assert settings.action_endpoint_url.startswith("http://10.0.0.5:")
    assert Settings(host="127.0.0.1").public_host == "127.0.0.1"
