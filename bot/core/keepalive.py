"""`python -m bot.core.keepalive NAME -- COMMAND`: run a command, and start it again when
it dies, until this process is told to stop.

`trialbot run` starts each of its processes through this, so one crashed process is
restarted on its own while the others keep running (honcho alone stops them all). A
process that keeps dying is started again after a growing wait (1 s doubling to 30 s,
back to 1 s once it has run for a minute), and every restart is logged. SIGTERM or
SIGINT is passed to the running command, and this process exits with its code. In
production systemd does the same job (`Restart=always`, deploy/systemd).

Imports only `bot.core.logs`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

logger = logging.getLogger("bot.core.keepalive")

FIRST_WAIT = 1.0
LONGEST_WAIT = 30.0
# A run this long counts as healthy: the next restart waits FIRST_WAIT again.
HEALTHY_RUN = 60.0


class KeepAlive:
    """Runs one shell command again and again until `stop`."""

    def __init__(self, name: str, command: str) -> None:
        self.name = name
        self.command = command
        self.restarts = 0
        self._stopping = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop restarting, and pass the signal to the running command."""
        self._stopping.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    def run(self) -> int:
        """Run until stopped; the last exit code of the command."""
        wait, code = FIRST_WAIT, 0
        while not self._stopping.is_set():
            started = time.monotonic()
            # exec: the shell becomes the command, so a signal reaches the command itself.
            self._child = subprocess.Popen(["/bin/sh", "-c", f"exec {self.command}"])  # noqa: S603
            code = self._child.wait()
            if self._stopping.is_set():
                break
            ran = time.monotonic() - started
            wait = FIRST_WAIT if ran >= HEALTHY_RUN else min(wait * 2, LONGEST_WAIT)
            self.restarts += 1
            logger.error(
                "%s stopped with code %s after %.0f s; starting it again in %.0f s (restart %d)",
                self.name,
                code,
                ran,
                wait,
                self.restarts,
            )
            self._stopping.wait(wait)
        # A command ended by a signal exits as a shell would report it (SIGTERM: 143).
        return 128 - code if code < 0 else code


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bot.core.keepalive")
    parser.add_argument("name", help="the process's name in the log")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the shell command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    keeper = KeepAlive(args.name, " ".join(command))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        keeper.stop(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return keeper.run()


if __name__ == "__main__":
    sys.exit(main())
