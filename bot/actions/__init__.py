"""Custom actions for the action server (`python -m bot.action_server`, rasa-sdk inside).

One thin module per conversation capability (`checkin`, `symptoms`, `faq`, `safety`,
`handoff`, `feedback`, `reminders`, `fallback`); rasa-sdk registers every Action subclass
found here. An action reads the tracker, calls a service package (`bot.safety`,
`bot.escalation`, `bot.study`, `bot.nlp`, the database layer) and says what to reply;
the rules and the SQL live in those packages. `records` runs that work off the event loop.

May import the service and base packages; nothing imports the actions except the
action server (and the demo, for the check-in's own vocabulary).
"""

from bot.core.logs import protect_logs

# Rasa imports this package in its own process: keep secrets out of that process's logs.
protect_logs()
