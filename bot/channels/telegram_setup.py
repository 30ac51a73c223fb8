"""Registering the Telegram webhook: a separate step, never done when the server starts.

    python -m bot.channels.telegram_setup            # Telegram posts updates to us
    python -m bot.channels.telegram_setup --remove   # it stops (pending updates are kept)

The webhook is `<TELEGRAM_WEBHOOK_BASE_URL>/webhooks/telegram/webhook` (the Rasa server,
reachable from the internet over HTTPS), with TELEGRAM_WEBHOOK_SECRET as the secret
token Telegram sends back in a header on every update.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot.clients.base import SendError
from bot.clients.telegram_bot import ALLOWED_UPDATES, TelegramClient, webhook_secret
from bot.core.settings import Settings, SettingsError, get_settings

WEBHOOK_PATH = "/webhooks/telegram/webhook"


def webhook_url(settings: Settings) -> str:
    """Where Telegram should post updates; SettingsError unless a public HTTPS base is set."""
    base = settings.telegram_webhook_base_url.strip().rstrip("/")
    if not base:
        raise SettingsError(
            "TELEGRAM_WEBHOOK_BASE_URL is not set: give the public https:// address "
            "of the Rasa server (see README.md, 'Configuration')"
        )
    if not base.startswith("https://"):
        raise SettingsError("TELEGRAM_WEBHOOK_BASE_URL must start with https:// (Telegram's rule)")
    return base + WEBHOOK_PATH


async def register_webhook(settings: Settings) -> str:
    """Point the bot's webhook at this server, with the secret token; returns the URL."""
    url = webhook_url(settings)
    secret = webhook_secret(settings)
    client = TelegramClient.from_settings(settings)
    try:
        await client.set_webhook(url, secret)
    finally:
        await client.aclose()
    return url


async def remove_webhook(settings: Settings) -> None:
    """Stop Telegram posting updates to the webhook."""
    client = TelegramClient.from_settings(settings)
    try:
        await client.delete_webhook()
    finally:
        await client.aclose()


def _say(text: str, *, error: bool = False) -> None:
    print(text, file=sys.stderr if error else sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    """Set (or with --remove, delete) the webhook and say what was done; 0 on success."""
    parser = argparse.ArgumentParser(
        prog="trialbot telegram-webhook",
        description="Register the Telegram webhook (or remove it with --remove).",
    )
    parser.add_argument("--remove", action="store_true", help="delete the webhook instead")
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        if args.remove:
            asyncio.run(remove_webhook(settings))
            _say("Telegram webhook removed: updates wait at Telegram until it is set again")
        else:
            url = asyncio.run(register_webhook(settings))
            _say(f"Telegram webhook set: {url} (updates: {', '.join(ALLOWED_UPDATES)})")
    except SettingsError as error:
        _say(f"telegram-webhook: {error}", error=True)
        return 2
    except SendError as error:
        _say(f"telegram-webhook: Telegram refused: {error}", error=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
