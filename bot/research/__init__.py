"""Research: engagement figures and plots, the de-identified export with its data
dictionary, the PI's report, conversation review and NLU review of low-confidence messages.

Reads what the product stored; writes only its own review labels. May import
`bot.outreach` (engagement definitions), `bot.participants`, `bot.staff`, `bot.study` and
the base.
"""
