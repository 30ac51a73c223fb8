"""Staff alerts: every stored escalation delivered to staff, acknowledged or re-escalated.

`bot.escalation.records.raise_escalation` stores an escalation in the same transaction as
its cause; the alert worker (`bot.alerts.worker`, its own supervised process) reads new
ones from the table (an outbox), plans their deliveries (`bot.alerts.planning`) into
`alert_deliveries`, and sends them with thin senders over the project's clients
(`telegram_staff`, `sms_staff`). `coverage` checks that every alert level reaches a
person (at start, in `trialbot check-study`, and for the console's banner).

May import `bot.escalation`, `bot.messaging`, `bot.staff`, `bot.study` and the base.
"""
