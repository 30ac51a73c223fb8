"""The worker skeleton: ticks on time, survives a failing tick, stops on a signal, --once."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from bot.core.settings import Settings, SettingsError
from bot.core.worker import Health, Worker, command


class Counting(Worker):
    """Ticks count; a tick listed in `fail_on` raises."""

    name = "counting worker"
    default_interval = 0.01
    description = "Counts its ticks."

    def __init__(self, fail_on: frozenset[int] = frozenset()) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.ticks = 0
        self.started = 0
        self.finished = 0
        self.closed = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Counting:
        return cls()

    async def start(self) -> None:
        self.started += 1

    async def tick(self) -> int:
        self.ticks += 1
        if self.ticks in self.fail_on:
            raise RuntimeError(f"tick {self.ticks} broke")
        return self.ticks

    async def finish(self) -> None:
        self.finished += 1

    async def aclose(self) -> None:
        self.closed += 1


async def run_until(worker: Worker, ticks: int, stop: asyncio.Event) -> None:
    for _ in range(500):
        if worker.health.ticks >= ticks:
            break
        await asyncio.sleep(0.01)
    stop.set()


async def test_a_failing_tick_is_logged_and_the_next_tick_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker, stop = Counting(fail_on=frozenset({2, 3})), asyncio.Event()
    running = asyncio.create_task(worker.run_forever(0.01, stop))
    await run_until(worker, 5, stop)
    await asyncio.wait_for(running, timeout=10)

    assert worker.ticks >= 5
    assert (worker.started, worker.finished) == (1, 1)
    assert worker.health.failures == 2
    assert worker.health.failures_in_a_row == 0
    assert worker.health.last_error == "RuntimeError: tick 3 broke"
    assert "counting worker tick failed (2 in a row)" in caplog.text


async def test_sigterm_stops_the_loop_after_the_tick_in_hand() -> None:
    worker = Counting()
    running = asyncio.create_task(worker.run_forever(0.01))
    while worker.ticks < 2:
        await asyncio.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(running, timeout=10)

    assert running.exception() is None
    assert worker.finished == 1
    assert worker.stopping


async def test_a_heartbeat_file_is_touched_after_good_ticks_only(tmp_path: Path) -> None:
    worker = Counting(fail_on=frozenset({1}))
    worker.heartbeat = tmp_path / "run" / "counting.heartbeat"
    with pytest.raises(RuntimeError):
        await worker.run_once()
    assert not worker.heartbeat.exists()

    assert await worker.run_once() == 2
    assert worker.heartbeat.exists()
    assert worker.started == 1  # start runs once, however many ticks


def test_health_goes_stale_when_no_tick_succeeds() -> None:
    health = Health(started_at=100.0)
    assert health.is_healthy(1.0, now=105.0)
    assert not health.is_healthy(1.0, now=109.0)
    health.last_success_at = 108.5
    assert health.is_healthy(1.0, now=109.0)


def test_once_from_the_command_line_ticks_once_and_closes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made: list[Counting] = []

    def factory(settings: Settings) -> Counting:
        made.append(Counting())
        return made[-1]

    monkeypatch.setattr(Counting, "from_settings", staticmethod(factory))
    heartbeat = tmp_path / "beat"

    assert command(Counting, ["--once", "--heartbeat", str(heartbeat)]) == 0
    [worker] = made
    assert (worker.ticks, worker.finished, worker.closed) == (1, 1, 1)
    assert heartbeat.exists()


def test_a_missing_setting_is_a_clear_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def factory(settings: Settings) -> Counting:
        raise SettingsError("RASA_API_TOKEN is not set")

    monkeypatch.setattr(Counting, "from_settings", staticmethod(factory))

    assert command(Counting, ["--once"]) == 2
    assert capsys.readouterr().err == (
        "python -m tests.core.test_worker: RASA_API_TOKEN is not set\n"
    )


async def test_the_health_port_answers_ok_then_503_when_a_check_fails() -> None:
    import json
    import socket

    worker, stop = Counting(), asyncio.Event()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        worker.health_port = sock.getsockname()[1]
    failing: dict[str, str] = {}

    async def checks() -> dict[str, str]:
        return {"database": "ok", **failing}

    worker.checks = checks  # type: ignore[method-assign]
    running = asyncio.create_task(worker.run_forever(0.01, stop))
    while worker.health.ticks < 2:
        await asyncio.sleep(0.01)

    async def get(path: str) -> tuple[int, dict]:
        reader, writer = await asyncio.open_connection("127.0.0.1", worker.health_port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        raw = await reader.read()
        writer.close()
        head, _, body = raw.decode().partition("\r\n\r\n")
        return int(head.split()[1]), json.loads(body)

    healthy = await get("/healthz")
    failing["rasa"] = "ConnectError"
    unhealthy = await get("/healthz")
    missing = await get("/other")
    stop.set()
    await asyncio.wait_for(running, timeout=10)

    assert healthy == (200, {"status": "ok", "checks": {"ticks": "ok", "database": "ok"}})
    assert unhealthy[0] == 503 and unhealthy[1]["checks"]["rasa"] == "ConnectError"
    assert missing[0] == 404
