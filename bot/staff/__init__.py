"""Staff accounts, independent of any channel: users and sign-in (`auth`), roles and
permissions, and the audit log. The escalation queue staff act on is `bot.escalation.queue`.

Imports `bot.participants` and the base.
"""
