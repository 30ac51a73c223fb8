"""Human handoff: a staff member takes a conversation over, talks in it, and hands it back.

While a person has the conversation the assistant is paused in Rasa (the emergency check
still runs: bot.safety.turn_guard). Staff write from the console's live chat, by a
Telegram reply to the alert, or by SMS; the participant's messages reach them in the
console (and, for Telegram or SMS, as a notice with a link, never their words).

May import `bot.alerts` (the staff senders), `bot.escalation`, `bot.messaging`,
`bot.staff`, `bot.study` and the base.
"""
