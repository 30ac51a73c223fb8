"""Benchmark: whole conversations through the REST channel vs the model's /model/parse alone.

Starts the Rasa server (SQL tracker store), the action server and the web app on free
ports with a fresh database, then sends scripted conversations at 1 and at 20 concurrent
conversations, and the same texts to /model/parse, and prints per-turn p50/p95 latency,
turns per second and the Rasa server's peak memory. Run with `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from bot.core.settings import Settings
from bot.db.session import migrate
from tests.stand_ins.stack import running

# A conversation as participants have them: hello, two questions, a full check-in, bye.
SCRIPT = (
    "hi",
    "whats a placebo",
    "do i get paid",
    "i want to do my check in",
    "4",
    "no",
    "yes",
    "no",
    "thanks bye",
)


@dataclass
class Run:
    """Latencies (seconds) of one measured run."""

    name: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0

    def row(self) -> str:
        """One line of the results table."""
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000
        p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000
        rate = len(ordered) / self.seconds if self.seconds else 0.0
        return (
            f"{self.name:<22} {self.concurrency:>4} {len(ordered):>6} {p50:>9.1f} {p95:>9.1f} "
            f"{rate:>9.1f} {self.errors:>6}"
        )


class PeakMemory:
    """Samples the resident memory of a process and its children in the background."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                family = [self._process, *self._process.children(recursive=True)]
                self.peak_bytes = max(self.peak_bytes, sum(p.memory_info().rss for p in family))
            except psutil.Error:
                pass
            time.sleep(0.1)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _conversation(client: httpx.AsyncClient, url: str, run: Run) -> None:
    sender = f"web-bench{secrets.token_hex(6)}"
    for text in SCRIPT:
        started = time.perf_counter()
        reply = await client.post(url, json={"sender": sender, "message": text})
        run.latencies.append(time.perf_counter() - started)
        if reply.status_code != 200 or not reply.json():
            run.errors += 1


async def _parse_all(client: httpx.AsyncClient, url: str, token: str, run: Run) -> None:
    for text in SCRIPT:
        started = time.perf_counter()
        reply = await client.post(url, params={"token": token}, json={"text": text})
        run.latencies.append(time.perf_counter() - started)
        if reply.status_code != 200:
            run.errors += 1


async def measure(settings: Settings, concurrency: int, rounds: int) -> tuple[Run, Run]:
    """Conversations and /model/parse, `rounds` x `concurrency` scripts each."""
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        conversations = Run("conversation turn", concurrency)
        parse = Run("/model/parse only", concurrency)
        webhook = f"{settings.rasa_url}/webhooks/rest/webhook"
        parse_url = f"{settings.rasa_url}/model/parse"
        for run, make in (
            (conversations, lambda: _conversation(client, webhook, conversations)),
            (parse, lambda: _parse_all(client, parse_url, settings.rasa_api_token, parse)),
        ):
            started = time.perf_counter()
            for _ in range(rounds):
                await asyncio.gather(*(make() for _ in range(concurrency)))
            run.seconds = time.perf_counter() - started
    return conversations, parse


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    """Start the assistant, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="scripts per concurrent slot")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trialbot-bench-") as folder:
        data_dir = Path(folder)
        settings = Settings(
            data_dir=data_dir,
            database_url=args.database_url or f"sqlite:///{data_dir / 'trialbot.db'}",
            rasa_port=_free_port(),
            actions_port=_free_port(),
            web_port=_free_port(),
            rasa_api_token=secrets.token_urlsafe(16),
        )
        migrate(settings.database_url)
        print(f"starting the assistant ({settings.database_url.split(':')[0]}) ...")
        with running(settings, data_dir / "logs") as processes:
            rasa_pid = processes[0].pid  # the shell; the Rasa server is its child
            asyncio.run(measure(settings, 1, 1))  # warm-up: load everything once
            results: list[Run] = []
            with PeakMemory(rasa_pid) as memory:
                for concurrency in (1, 20):
                    results.extend(asyncio.run(measure(settings, concurrency, args.rounds)))
        print(f"\n{len(SCRIPT)} turns per conversation, {args.rounds} rounds per slot\n")
        header = ("conc", "turns", "p50 ms", "p95 ms", "turns/s", "errors")
        widths = (4, 6, 9, 9, 9, 6)
        print(" " * 22, *(f"{name:>{width}}" for name, width in zip(header, widths, strict=True)))
        for run in results:
            print(run.row())
        for conversation, parse in zip(results[0::2], results[1::2], strict=True):
            ratio = statistics.median(conversation.latencies) / statistics.median(parse.latencies)
            print(
                f"concurrency {conversation.concurrency}: a conversation turn takes "
                f"{ratio:.1f}x the time of /model/parse alone (p50)"
            )
        print(f"Rasa server peak memory: {memory.peak_bytes / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
