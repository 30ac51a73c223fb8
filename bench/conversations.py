"""Benchmark: the project's stack (A) against plain Rasa on the same model (C), turn by turn.

A is every process `trialbot run` starts (`tests.stand_ins.stack.running`) on free ports
with a fresh database (SQLite, or a new `bench_<random>` PostgreSQL database with
`--database-url`), reached through the channel participants' traffic uses: the web chat
channel (`bot.channels.web_chat.WebChatInput`, served at /webhooks/rest/webhook on the Rasa
server: input checks, the message log, the turn guard, the SQL tracker store). C is
`rasa run` on the same model with Rasa's built-in `rest` channel, the in-memory tracker
and lock stores, and the same action server (`bench.processes.plain_rasa`).

After a warm-up of several conversations on each, A and C take turns (A, C, A, C, ...
for `--rounds` rounds, fresh conversations every time) at 1 and at 20 concurrent
conversations of the same script. Every reply is checked for the expected answer; a
wrong or empty one is an error, counted and left out of the latencies. Printed: per-turn
p50 (median) and p95 (nearest rank), turns per second over the measured window, the
ratios A/C, a long-conversation series (a probe turn after 10, 100 and 500 earlier
turns of one conversation), and the resident memory of every process.

    python -m bench.conversations [--quick] [--rounds 6] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from bench.processes import MemoryWatch, fresh_postgres, plain_rasa
from bench.stats import Turn, median, nearest_rank, throughput
from bot.core.settings import Settings
from bot.db.session import migrate
from bot.supervisor import process_commands
from tests.stand_ins.stack import free_port, running


@dataclass(frozen=True)
class Line:
    """A participant's message and what the reply must contain (any one of the phrases,
    case-insensitive) for the turn to count as answered."""

    text: str
    expect: tuple[str, ...]


# A conversation as participants have them: hello, two questions, a full check-in, bye.
# The phrases are from the replies (every variant) the assistant gives to each line:
# domain/core.yml, studies/example.yml's FAQ answers, bot/study/wording.py's check-in.
GREETING = ("study helper", "help with your study")
SCRIPT = (
    Line("hi", GREETING),
    Line("whats a placebo", ("fake inhaler",)),
    Line("do i get paid", ("prepaid card",)),
    Line("i want to do my check in", ("do your check-in",)),
    Line("4", ("anything new bothering you",)),
    Line("no", ("study medicine as planned",)),
    Line("yes", ("question for the study team",)),
    Line("no", ("check-in is done",)),
    Line("thanks bye", ("bye for now", "talk soon")),
)
# Cheap turns that keep one conversation in one Rasa session (domain/core.yml's
# session_config: a new session only after 12 quiet hours), and the probe timed at each
# length (a FAQ answer: NLU, the response selector and the policies, no action server).
FILLER = (
    Line("hi", GREETING),
    Line("thanks", ("glad to help", "thank you for being part")),
)
PROBE = Line("whats a placebo", ("fake inhaler",))
PROBES = 5
CONCURRENT = 20
REQUEST_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Target:
    """Where a system takes a participant's message (JSON `sender`, `message`), or, with
    `parse_token`, Rasa's /model/parse (JSON `text`): the NLU alone, for reference."""

    name: str
    url: str
    parse_token: str = ""


@dataclass
class Series:
    """The measured turns of one system at one concurrency, and the batches' windows."""

    target: Target
    concurrency: int
    batches: list[list[Turn]] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def turns(self) -> list[Turn]:
        """Every measured turn."""
        return [turn for turns in self.batches for turn in turns]

    @property
    def good(self) -> list[float]:
        """The latencies (seconds) of the turns answered as expected."""
        return [turn.seconds for turn in self.turns if turn.ok]

    @property
    def errors(self) -> int:
        """Turns with a wrong, empty or failed reply."""
        return sum(1 for turn in self.turns if not turn.ok)

    @property
    def rate(self) -> float:
        """Good turns per second over the batches' measured windows (set-up excluded)."""
        return throughput(self.batches)

    def row(self) -> str:
        """One line of the results table."""
        good = self.good
        p50 = f"{median(good) * 1000:.1f}" if good else "-"
        p95 = f"{nearest_rank(good, 95) * 1000:.1f}" if good else "-"
        return (
            f"{self.target.name:<26} {self.concurrency:>4} {len(self.turns):>6} "
            f"{self.errors:>6} {p50:>9} {p95:>9} {self.rate:>9.1f}"
        )


def _json_body(reply: httpx.Response) -> Any:
    """The reply's JSON body (None for a non-200 reply or one that is not JSON)."""
    if reply.status_code != 200:
        return None
    try:
        return reply.json()
    except ValueError:
        return None


def reply_texts(reply: httpx.Response) -> str:
    """The reply's message texts joined, lower-cased ("" for anything but a JSON list)."""
    body = _json_body(reply)
    if not isinstance(body, list):
        return ""
    return " ".join(str(message.get("text") or "") for message in body).lower()


def parsed_intent(reply: httpx.Response) -> str:
    """The intent /model/parse found ("" when the reply is not a parse result)."""
    body = _json_body(reply)
    intent = body.get("intent") if isinstance(body, dict) else None
    return str(intent.get("name") or "") if isinstance(intent, dict) else ""


def answered(line: Line, texts: str) -> bool:
    """True when the reply is not empty and contains one of the line's phrases."""
    return bool(texts.strip()) and any(phrase in texts for phrase in line.expect)


async def say(
    client: httpx.AsyncClient, target: Target, sender: str, line: Line, series: Series | None
) -> Turn:
    """Send one message, time it to its reply and check the reply."""
    started = time.perf_counter()
    problem = ""
    try:
        if target.parse_token:
            reply = await client.post(
                target.url, params={"token": target.parse_token}, json={"text": line.text}
            )
            texts = parsed_intent(reply)
        else:
            reply = await client.post(target.url, json={"sender": sender, "message": line.text})
            texts = reply_texts(reply)
    except httpx.HTTPError as error:
        texts, reply, problem = "", None, type(error).__name__
    finished = time.perf_counter()
    ok = bool(texts) if target.parse_token else answered(line, texts)
    if not ok and series is not None and len(series.examples) < 3:
        problem = f"HTTP {reply.status_code}" if reply is not None else problem
        series.examples.append(f"{line.text!r} -> {problem}: {texts[:120]!r}")
    return Turn(started, finished, ok)


def new_sender() -> str:
    """A sender ID the web chat accepts, new every time (a fresh conversation)."""
    return f"web-bench{secrets.token_hex(8)}"


async def conversation(
    client: httpx.AsyncClient, target: Target, series: Series | None
) -> list[Turn]:
    """The whole script as one new participant."""
    sender = new_sender()
    return [await say(client, target, sender, line, series) for line in SCRIPT]


async def batch(
    client: httpx.AsyncClient, series: Series | None, target: Target, count: int
) -> None:
    """`count` conversations at once; their turns go to `series` (None: warm-up)."""
    results = await asyncio.gather(*(conversation(client, target, series) for _ in range(count)))
    if series is not None:
        series.batches.append([turn for turns in results for turn in turns])


def client_for(concurrency: int) -> httpx.AsyncClient:
    """An HTTP client with a connection per concurrent conversation."""
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, limits=limits)


async def warm_up(targets: Sequence[Target], conversations: int) -> None:
    """Several whole conversations on each system (three at a time), not measured: model,
    caches, connection pools and the action server are warm before anything is timed."""
    async with client_for(CONCURRENT) as client:
        for target in targets:
            left = conversations
            while left > 0:
                await batch(client, None, target, min(3, left))
                left -= 3


async def rounds(
    targets: Sequence[Target], count: int, sequential: int
) -> dict[tuple[str, int], Series]:
    """`count` rounds; in each, every target in turn runs `sequential` conversations one
    after another, then every target in turn runs CONCURRENT at once."""
    results = {
        (target.name, concurrency): Series(target, concurrency)
        for concurrency in (1, CONCURRENT)
        for target in targets
    }
    async with client_for(CONCURRENT) as client:
        for _ in range(count):
            for target in targets:
                series = results[(target.name, 1)]
                for _ in range(sequential):
                    await batch(client, series, target, 1)
            for target in targets:
                await batch(client, results[(target.name, CONCURRENT)], target, CONCURRENT)
    return results


@dataclass
class LongConversation:
    """One conversation of a system driven to several lengths, a probe timed at each."""

    target: Target
    sender: str = field(default_factory=new_sender)
    turns_so_far: int = 0
    probes: dict[int, float] = field(default_factory=dict)  # length -> median seconds
    errors: int = 0


async def long_conversations(
    targets: Sequence[Target], lengths: Sequence[int]
) -> list[LongConversation]:
    """For each length, every target's conversation is driven to it with cheap turns,
    then PROBES probe turns are timed (median); the targets alternate at each length."""
    talks = [LongConversation(target) for target in targets]
    async with client_for(1) as client:
        for length in lengths:
            for talk in talks:
                while talk.turns_so_far < length:
                    line = FILLER[talk.turns_so_far % len(FILLER)]
                    turn = await say(client, talk.target, talk.sender, line, None)
                    talk.errors += 0 if turn.ok else 1
                    talk.turns_so_far += 1
                timed = []
                for _ in range(PROBES):
                    turn = await say(client, talk.target, talk.sender, PROBE, None)
                    talk.turns_so_far += 1
                    if turn.ok:
                        timed.append(turn.seconds)
                    else:
                        talk.errors += 1
                if timed:
                    talk.probes[length] = median(timed)
                    # As it goes: the series takes minutes, and a stopped run keeps these.
                    print(
                        f"  {talk.target.name} @{length}: {talk.probes[length] * 1000:.0f} ms",
                        flush=True,
                    )
    return talks


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "-"


def print_table(
    header: list[str], series: dict[tuple[str, int], Series], a: Target, c: Target
) -> None:
    """The table of the interleaved rounds and the ratios A/C."""
    print("\n" + "\n".join(header) + "\n")
    names = ("system", "conc", "turns", "errors", "p50 ms", "p95 ms", "turns/s")
    widths = (26, 4, 6, 6, 9, 9, 9)
    print(
        " ".join(
            f"{name:<{width}}" if index == 0 else f"{name:>{width}}"
            for index, (name, width) in enumerate(zip(names, widths, strict=True))
        )
    )
    for row in series.values():
        print(row.row())
    for row in series.values():
        for example in row.examples:
            print(f"  error ({row.target.name}, c={row.concurrency}): {example}")
    a1, c1 = series[(a.name, 1)].good, series[(c.name, 1)].good
    if a1 and c1:
        print(f"\np50 A/C at concurrency 1: {_ratio(median(a1), median(c1))} (goal <= 0.8)")
    a20, c20 = series[(a.name, CONCURRENT)].rate, series[(c.name, CONCURRENT)].rate
    print(
        f"throughput A/C at concurrency {CONCURRENT}: {_ratio(a20, c20)} (goal >= 1.5)",
        flush=True,
    )


def print_long(talks: list[LongConversation], lengths: Sequence[int], memory: MemoryWatch) -> None:
    """The long-conversation series and the memory of every process."""
    print(
        f"\nLong conversation: median of {PROBES} probe turns ({PROBE.text!r}) after N earlier"
        " turns (alternating 'hi' / 'thanks'), ms:"
    )
    columns = "".join(f"{'@' + str(length):>9}" for length in lengths)
    print(f"{'':<26}{columns}  @{lengths[-1]}/@{lengths[0]}  errors")
    for talk in talks:
        cells = "".join(
            f"{talk.probes[length] * 1000:>9.0f}" if length in talk.probes else f"{'-':>9}"
            for length in lengths
        )
        first, last = talk.probes.get(lengths[0]), talk.probes.get(lengths[-1])
        ratio = _ratio(last, first) if first and last else "-"
        print(f"{talk.target.name:<26}{cells}  {ratio:>8}  {talk.errors:>6}")
    print("\nResident memory (RSS, with children), peak while measuring and after:")
    print("\n".join(memory.lines()))


def settings_for(folder: Path, database_url: str) -> Settings:
    """The project's settings on free ports, with a database of its own."""
    return Settings(
        data_dir=folder,
        database_url=database_url or f"sqlite:///{folder / 'trialbot.db'}",
        # On for the bench whatever the database (off by default with PostgreSQL).
        web_chat_enabled=True,
        rasa_port=free_port(),
        actions_port=free_port(),
        web_port=free_port(),
        rasa_api_token=secrets.token_urlsafe(16),
        action_server_token=secrets.token_urlsafe(16),
    )


def main() -> None:
    """Start both systems, warm them up, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="interleaved A, C rounds")
    parser.add_argument(
        "--sequential", type=int, default=3, help="conversations one at a time per round"
    )
    parser.add_argument("--warm-up", type=int, default=6, help="conversations per system")
    parser.add_argument(
        "--lengths", default="10,100,500", help="earlier turns before the long-conversation probes"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server URL: a new database bench_<random> is made there and "
        "dropped after (default: a fresh SQLite file)",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.sequential, args.warm_up, args.lengths = 1, 1, 3, "10,50"
    lengths = [int(part) for part in args.lengths.split(",")]
    started_at = datetime.now(timezone.utc)
    # Required with any database but the embedded SQLite; each process reads its secrets
    # from the environment it inherits (new ones for every run).
    os.environ["ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(48)
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="trialbot-bench-")))
        url = stack.enter_context(fresh_postgres(args.database_url)) if args.database_url else ""
        settings = settings_for(folder, url)
        database = settings.database_url.split(":")[0]
        migrate(settings.database_url)
        print(f"starting the project's stack ({database}) and plain Rasa ...", flush=True)
        processes = stack.enter_context(running(settings, folder / "logs"))
        plain_port = free_port()
        plain = stack.enter_context(plain_rasa(settings, plain_port, folder))
        pids = dict(zip(process_commands(settings), (p.pid for p in processes), strict=True))
        pids["plain rasa (C)"] = plain.pid
        a = Target(f"A stack, {database}", f"{settings.rasa_url}/webhooks/rest/webhook")
        c = Target(
            "C plain Rasa", f"http://{settings.internal_host}:{plain_port}/webhooks/rest/webhook"
        )
        print("warming up ...", flush=True)
        parse = Target(
            "/model/parse alone (A)",
            f"{settings.rasa_url}/model/parse",
            parse_token=settings.rasa_api_token,
        )
        asyncio.run(warm_up((a, c), args.warm_up))
        with MemoryWatch(pids) as memory:
            print("measuring ...", flush=True)
            series = asyncio.run(rounds((a, c, parse), args.rounds, args.sequential))
            print_table(_header(args, database, started_at), series, a, c)
            print("\nlong conversations ...", flush=True)
            talks = asyncio.run(long_conversations((a, c), lengths))
        print_long(talks, lengths, memory)


def _header(args: argparse.Namespace, database: str, started_at: datetime) -> list[str]:
    """What was measured, when, on how many cores."""
    return [
        f"Benchmark {started_at:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"A = the project's stack ({database}, one Rasa server, in-memory lock store), "
        "through the web chat channel",
        "    (bot.channels.web_chat.WebChatInput at /webhooks/rest/webhook on the Rasa "
        "server: message log, turn guard, SQL tracker store;",
        "    the chat page reaches it through the web app's /api/chat, a hop not timed here)",
        "C = plain `rasa run`, same model and action server, built-in rest channel, "
        "in-memory tracker and lock stores",
        f"{len(SCRIPT)}-turn script, {args.rounds} interleaved rounds (A, C), per round "
        f"{args.sequential} conversations one at a time and {CONCURRENT} at once; "
        f"warm-up {args.warm_up} conversations each",
        "p50 = median, p95 = nearest rank, of turns answered as expected; errors = wrong "
        "or empty replies (left out); turns/s over the measured window",
    ]


if __name__ == "__main__":
    main()
