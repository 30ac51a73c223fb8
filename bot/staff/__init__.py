"""Staff accounts, independent of any channel: users, sign-in, one-time passwords and
deactivation (`auth`), roles and permissions, and the audit log (written and read). The
escalation queue staff act on is `bot.escalation.queue`.

Imports `bot.participants` and the base.
"""
