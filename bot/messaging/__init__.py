"""Messages to and from participants, whatever the channel: `delivery` sends through a
channel client (logged, retried, opt-outs kept), `message_log` records every message in
and out, `inbound` keeps participants' acknowledged messages as a queue (each handled
once, in order, under a lease), and `numbered_choices` turns a bare "2" back into the
button it picks. Imports `bot.core`, `bot.db`, `bot.clients` and `bot.participants`.
"""
