"""Claim tokens: a row claimed for work (a lease) names the process that holds it.

The Rasa servers' inbound queues and the outreach worker claim rows with a conditional
UPDATE that writes a token; later updates of the row name the token again, so a process
whose lease ran out (and was taken over) can never record over the new holder's work.
"""

from __future__ import annotations

import os
import secrets
import socket

TOKEN_LENGTH = 64


def claim_token(role: str) -> str:
    """A token unique to this process: `<role>@<host>:<pid>:<random>` (at most 64 characters).

    The host and process make a claim easy to trace in the database; the random part keeps
    two holders apart even when a process ID is reused.
    """
    suffix = f":{os.getpid()}:{secrets.token_hex(4)}"
    prefix = f"{role}@{socket.gethostname()}"
    return prefix[: TOKEN_LENGTH - len(suffix)] + suffix
