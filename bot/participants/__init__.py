"""Participants: enrollment (study IDs, encrypted phone numbers and chat IDs, enrollment
codes), the staff directory of participants, staff changing a participant's details, and
the incentive ledger. Imports `bot.core`,
`bot.db` and `bot.study`.
"""
