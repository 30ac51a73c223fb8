"""Building blocks every other package may use.

`settings` (every setting, from the environment or `.env`), `logs` (logging that never
writes a secret or a participant's words), `crypto` (phone numbers and chat IDs encrypted
at rest), `retry` (tenacity: work that can fail for a moment is tried again), `claims`
(the token that names who holds a claimed row) and `worker` (the loop, signals, `--once`
and health of every background worker).

Imports nothing app-side.
"""
