"""Messages to and from participants, whatever the channel: `delivery` sends through a
channel client (logged, retried, opt-outs kept), `message_log` records every message in
and out, and `numbered_choices` turns a bare "2" back into the button it picks. Imports
`bot.core`, `bot.db`, `bot.clients` and `bot.participants`.
"""
