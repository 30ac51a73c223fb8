"""Trial Companion: a Rasa assistant for clinical-trial participants.

The packages, from the entry points down (each may import only the ones below it; the
layers are checked by `lint-imports`, see pyproject.toml):

- `cli` (`trialbot`), `demo` (only the CLI imports it), `supervisor` (`trialbot run`);
- entry points: `web` (chat page and staff console), `channels` (SMS, Telegram, web chat
  for Rasa), `actions` (the action server);
- services: `safety` (the emergency check, reply and escalation) and `research`;
  `handoff` (staff take a conversation over); `alerts` (staff alerts decided, sent,
  re-escalated) and `outreach` (proactive messages); `messaging` (delivery and the
  message log) and `escalation` (rules, records, queue); `staff`; `participants`;
- the base: `study` (the study config and every text), `db`, `clients` (Twilio, Telegram,
  Rasa), `nlp` (the spaCy pipeline), and `core` (settings, logs, crypto, retry, worker).
"""
