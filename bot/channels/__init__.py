"""The project's own Rasa input/output channels: web chat, Twilio SMS, Telegram.

Each channel checks its requests (signatures, secrets, sizes), turns the service's
message into Rasa's `UserMessage`, and sends the replies through `bot.messaging` (logged,
retried, opt-outs kept). Every participant turn goes through `bot.safety.turn_guard`.
`keywords` is HELP/INFO/STOP/START (and AYUDA, PARAR, EMPEZAR...) on every channel;
`replies` the texts a channel sends on its own, in a language; `sms_inbox` is the SQL
side of SMS; `inbound_queue` handles participants' stored SMS and Telegram messages once
each, in order, and recovers those a stopped server left.

May import the service packages (safety, handoff, messaging, participants, staff, study)
and the base (clients, db, core); no service imports a channel.
"""

from bot.core.logs import protect_logs

# Rasa imports this package in its own process: keep secrets out of that process's logs.
protect_logs()
