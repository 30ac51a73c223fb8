"""The project's own Rasa input/output channels (web chat, Twilio SMS, Telegram)."""
