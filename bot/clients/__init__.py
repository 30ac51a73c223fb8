"""Thin clients, one per outside service (Telegram, Twilio)."""
