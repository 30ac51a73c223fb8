"""Escalations: everything staff must look at, in one place.

`rules` decides (a symptom's grade or worsening against the study's rules), `records`
creates (the one place an escalation row is written, with its acknowledgement code; a
repeat of an open concern updates its item instead), and `queue` changes its state
(acknowledge one or many, resolve, the staff queue, grouped by participant). Delivering alerts to
staff is `bot.alerts`; the emergency reply and its escalation are `bot.safety`. Imports
`bot.staff` (who acknowledged), `bot.study`, `bot.db` and `bot.core`.
"""
