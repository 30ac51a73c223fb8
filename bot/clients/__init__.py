"""Thin clients, one per outside service: Twilio SMS, the Telegram Bot API, Rasa's HTTP API.

`base` says what a participant-messaging client is (`ChannelClient`, `Sent`,
`SendError`); `numbered_options` writes buttons as "Reply 1 for Yes, 2 for No." for SMS.
A client sends and reports; logging, retries and opt-outs are `bot.messaging`'s.

Imports only `bot.core` (settings, crypto): a client depends on nothing app-side.
"""
