"""The benchmarks' statistics: percentiles by nearest rank, and throughput over the
measured window only."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the ceil(percent/100 * n)-th smallest value.

    Always one of the values (no interpolation), and right for small n: p95 of 19
    values is the 19th smallest (the largest), of 20 the 19th, of 21 the 20th.
    """
    if not values:
        raise ValueError("no values")
    if not 0 < percent <= 100:
        raise ValueError("percent must be in (0, 100]")
    rank = math.ceil(percent / 100 * len(values))
    return sorted(values)[rank - 1]


def median(values: Sequence[float]) -> float:
    """The median (p50): the middle value, or the mean of the two middle ones."""
    if not values:
        raise ValueError("no values")
    return statistics.median(values)


@dataclass(frozen=True)
class Turn:
    """One request: when it was sent, when its reply came (perf_counter seconds), and
    whether the reply was the expected one."""

    started: float
    finished: float
    ok: bool

    @property
    def seconds(self) -> float:
        """How long the turn took."""
        return self.finished - self.started


def window_seconds(turns: Sequence[Turn]) -> float:
    """From the first request's start to the last reply: the measured window, without the
    set-up before it or anything after it."""
    if not turns:
        return 0.0
    return max(turn.finished for turn in turns) - min(turn.started for turn in turns)


def throughput(batches: Sequence[Sequence[Turn]]) -> float:
    """Good turns per second over the batches' measured windows added up (0 when none).

    Each batch's window runs from its first request's start to its last reply, so the
    set-up between batches (starting the next conversations' systems) is not counted.
    """
    window = sum(window_seconds(turns) for turns in batches)
    good = sum(1 for turns in batches for turn in turns if turn.ok)
    return good / window if window > 0 else 0.0
