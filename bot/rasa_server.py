"""`python -m bot.rasa_server [rasa run options]`: Rasa's own server, started so that its
HTTP API token is read from the environment (RASA_API_TOKEN), never from the command line,
where every user of the machine can read it (`ps`, /proc/<pid>/cmdline).

Everything else is `rasa run` as Rasa ships it, with the project's small patches of Rasa
applied first (`bot.core.rasa_patches`: the action server's replies checked by a validator
built once); the options are the ones `trialbot run` and the systemd unit pass
(`bot.supervisor.process_commands`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from bot.core import rasa_patches
from bot.core.logs import protect_logs
from bot.core.settings import get_settings

# Rasa's HTTP API takes whole trackers' events (the demo replay); webhooks take 64 KB.
RASA_MAX_REQUEST_BYTES = 1024 * 1024


def rasa_arguments(argv: Sequence[str], environment: Mapping[str, str]) -> list[str]:
    """The argument list `rasa` is run with: `run`, the options, and the token if set."""
    arguments = ["run", *argv]
    if "--auth-token" in arguments:
        raise SystemExit(
            "bot.rasa_server: pass the token in RASA_API_TOKEN, not on the command line"
        )
    token = environment.get("RASA_API_TOKEN", "")
    return [*arguments, "--auth-token", token] if token else arguments


def main(argv: Sequence[str] | None = None) -> None:
    """Run `rasa run` in this process, patched, with the token added in memory only."""
    arguments = rasa_arguments(sys.argv[1:] if argv is None else argv, os.environ)
    settings = get_settings()
    problems = settings.channel_problems()
    if problems:
        raise SystemExit("bot.rasa_server: " + "; ".join(problems))
    # endpoints.yml's variables, from the same settings every process reads (a systemd
    # unit sets REDIS_URL and DATABASE_URL; the lock store's variables follow from them).
    for name, value in settings.child_environment().items():
        os.environ.setdefault(name, value)
    # Sanic reads SANIC_* variables: a body over this is refused before it is read.
    os.environ.setdefault("SANIC_REQUEST_MAX_SIZE", str(RASA_MAX_REQUEST_BYTES))
    protect_logs()
    # Before Rasa starts: a Rasa the patches do not know is warned about and left as it is.
    rasa_patches.apply()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *arguments]  # what Rasa parses; /proc/<pid>/cmdline is unchanged
    rasa_main()


if __name__ == "__main__":
    main()
