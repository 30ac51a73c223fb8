"""A process that dies is started again; a stop signal reaches it and ends the loop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from bot.core import keepalive
from bot.core.keepalive import KeepAlive


def test_a_command_that_dies_is_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keepalive, "FIRST_WAIT", 0.01)
    starts = tmp_path / "starts"
    # Dies at once the first two times, then stays up.
    command = f"sh -c 'echo x >> {starts}; [ $(wc -l < {starts}) -ge 3 ] && exec sleep 30; exit 3'"
    keeper = KeepAlive("flaky", command)
    running = threading.Thread(target=keeper.run)
    running.start()
    for _ in range(500):
        if starts.exists() and len(starts.read_text().split()) >= 3:
            break
        time.sleep(0.01)
    time.sleep(0.2)
    keeper.stop()
    running.join(timeout=10)

    assert not running.is_alive()
    assert keeper.restarts == 2
    assert len(starts.read_text().split()) == 3  # not restarted after the stop


def test_sigterm_stops_the_command_and_the_keeper() -> None:
    command = [sys.executable, "-m", "bot.core.keepalive", "sleeper", "--", "sleep 61"]
    process = subprocess.Popen(command, start_new_session=True)  # noqa: S603 - our own
    children: list[psutil.Process] = []
    for _ in range(500):
        children = psutil.Process(process.pid).children(recursive=True)
        if children:
            break
        time.sleep(0.01)
    assert [child.cmdline() for child in children] == [["sleep", "61"]]

    os.killpg(process.pid, signal.SIGTERM)  # as honcho stops its processes

    assert process.wait(timeout=10) == 128 + signal.SIGTERM
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
