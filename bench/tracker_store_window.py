"""Benchmark: a turn's tracker work at 10, 100 and 500 prior turns, Rasa's SQLTrackerStore
against the project's windowed one (bot.db.tracker_store), on SQLite.

For each store and length, a fresh database gets a conversation of that many turns
(a message, an answer with a FAQ-sized parse, listening: 4 events a turn, about the size
Rasa writes), then a turn is timed several times: `retrieve`, the policies' featurisation
of the history (`past_states`), the tracker sent to the action server
(`current_state(ALL)` as JSON), one new turn's events and `save`. Prints, in ms, the
median turn after exactly N prior turns (the database restored before each) and the
mean of the next 2 x window turns (the windowed store's cut included).

    python -m bench.tracker_store_window [--repeats 15] [--window 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from bot.core.settings import PROJECT_ROOT
from bot.db.session import migrate
from bot.db.tracker_store import WindowedSQLTrackerStore

LENGTHS = (10, 100, 500)
SENDER = "bench-participant"


def one_turn(number: int) -> list[Event]:
    """A participant's question and the FAQ answer: what a typical turn writes."""
    parse = {
        "intent": {"name": "faq", "confidence": 0.93},
        "entities": [],
        "text": f"question number {number} about the study visits",
        "intent_ranking": [{"name": f"intent_{i}", "confidence": 0.01} for i in range(10)],
        "response_selector": {"faq": {"response": {"intent_response_key": "faq/visits"}}},
    }
    return [
        UserUttered(parse["text"], parse["intent"], [], parse_data=parse, input_channel="rest"),
        ActionExecuted("action_answer_faq", policy="RulePolicy", confidence=1.0),
        BotUttered("Your visits are every four weeks at the clinic. " * 3, {"buttons": None}),
        ActionExecuted(ACTION_LISTEN_NAME, policy="RulePolicy", confidence=1.0),
    ]


async def fill(store: Any, domain: Domain, turns: int) -> None:
    """Write a conversation of `turns` turns, one save per turn (as Rasa does)."""
    tracker = DialogueStateTracker(SENDER, domain.slots)
    for event in [
        ActionExecuted(ACTION_SESSION_START_NAME),
        SessionStarted(),
        ActionExecuted(ACTION_LISTEN_NAME),
    ]:
        tracker.update(event, domain)
    await store.save(tracker)
    for number in range(turns):
        tracker = await store.retrieve(SENDER)
        for event in one_turn(number):
            tracker.update(event, domain)
        await store.save(tracker)


async def timed_turn(store: Any, domain: Domain, number: int) -> float:
    """One turn's tracker work, in milliseconds."""
    started = time.perf_counter()
    tracker = await store.retrieve(SENDER)
    tracker.past_states(domain)
    json.dumps(tracker.current_state(EventVerbosity.ALL))
    for event in one_turn(number):
        tracker.update(event, domain)
    await store.save(tracker)
    return (time.perf_counter() - started) * 1000


async def measure(
    kind: str, turns: int, repeats: int, window: int, domain: Domain
) -> tuple[float, float]:
    """After `turns` prior turns: the median of `repeats` turns each taken from the same
    saved database (exactly `turns` prior turns), and the mean of the next 2 x `window`
    consecutive turns (for the windowed store, this includes a cut)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trialbot.db"
        url = f"sqlite:///{path}"
        migrate(url)
        store = make_store(kind, url, window, domain)
        await fill(store, domain, turns)
        store.engine.dispose()
        saved = path.read_bytes()
        times = []
        for repeat in range(repeats):
            path.write_bytes(saved)
            store = make_store(kind, url, window, domain)
            times.append(await timed_turn(store, domain, turns + repeat))
            store.engine.dispose()
        path.write_bytes(saved)
        store = make_store(kind, url, window, domain)
        following = [await timed_turn(store, domain, turns + i) for i in range(2 * window)]
        store.engine.dispose()
    return statistics.median(times), statistics.fmean(following)


def make_store(kind: str, url: str, window: int, domain: Domain) -> Any:
    """Rasa's SQLTrackerStore ("rasa") or the windowed one."""
    if kind == "rasa":
        return SQLTrackerStore(domain=domain, host=url)
    return WindowedSQLTrackerStore(domain=domain, host=url, window_turns=window)


async def main(repeats: int, window: int) -> None:
    """Print the table."""
    domain = Domain.load(str(PROJECT_ROOT / "domain"))
    print(f"ms per turn (retrieve, past_states, tracker JSON, save); window {window} turns")
    print("p50: one turn after exactly N prior turns; mean: the next 2 x window turns")
    print(f"{'prior turns':>12} {'Rasa p50':>9} {'mean':>7} {'window p50':>11} {'mean':>7}")
    for turns in LENGTHS:
        rasa = await measure("rasa", turns, repeats, window, domain)
        ours = await measure("windowed", turns, repeats, window, domain)
        print(f"{turns:>12} {rasa[0]:>9.1f} {rasa[1]:>7.1f} {ours[0]:>11.1f} {ours[1]:>7.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--window", type=int, default=10)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.repeats, arguments.window))
