"""The emergency guarantee (safety rule 1), in one place.

- `bot.safety.emergency`: what an emergency gets — the study's emergency reply (the crisis
  line for self-harm) and one emergency escalation per message.
- `bot.safety.detection`: the deterministic red-flag check of a message's text, with the
  project's spaCy pipeline (no ML model), for the channel layer.
- `bot.safety.turn_guard`: the last line of defence around every participant turn on
  every channel: whatever the dialogue did (a paused conversation, a policy error, the
  circuit breaker, the action server down, a crash), a red-flag message gets the
  emergency reply and escalation exactly once, no message ends with no reply, and the
  conversation is left listening.

The NLU side of the same check is `bot.safety.red_flag_guard` (it makes the intent
`emergency` inside Rasa); the dialogue side is `action_emergency` in
`bot.actions.safety`. Both use this package's reply and escalation.

Imports `bot.handoff` (is a person talking with the participant?), `bot.escalation`,
`bot.study`, `bot.nlp`, `bot.db` and `bot.core`; never the actions or channels, which
both call into it.
"""
