"""Proactive outreach that survives restarts: check-in prompts, nudges, visit and dose reminders.

Planned into the `scheduled_messages` due-jobs table (`bot.outreach.planner`) and sent by
a worker process (`bot.outreach.worker`, `trialbot worker`, on `bot.core.worker`), at most
once. The policies (quiet hours, late messages, at most once, nudges, at risk of dropping
out) are stated in those two modules' docstrings.

May import `bot.messaging`, `bot.escalation`, `bot.participants`, `bot.study` and the base.
"""
