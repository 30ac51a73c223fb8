"""The benchmarks' statistics: nearest-rank percentiles and throughput over the measured
window (no timing here: the values are made up)."""

from __future__ import annotations

import pytest

from bench.stats import Turn, median, nearest_rank, throughput, window_seconds


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, 1),  # the only value
        (2, 2),  # ceil(1.9) = 2: the larger of two
        (19, 19),  # ceil(18.05) = 19: the largest
        (20, 19),  # ceil(19) = 19: one value above it
        (21, 20),  # ceil(19.95) = 20
    ],
)
def test_p95_is_the_nearest_rank(count: int, expected: int) -> None:
    """p95 of 1..n (shuffled) is the ceil(0.95 n)-th smallest value."""
    values = [float(value) for value in range(count, 0, -1)]
    assert nearest_rank(values, 95) == expected


def test_p50_is_the_median() -> None:
    """p50 is the middle value, or the mean of the two middle ones."""
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5


def test_no_values_is_refused() -> None:
    """A percentile of nothing is an error, not 0."""
    with pytest.raises(ValueError):
        nearest_rank([], 95)


def test_throughput_counts_good_turns_over_the_measured_window_only() -> None:
    """The window runs from the first start to the last reply of each batch; the gap
    between batches (set-up) and the failed turns do not count."""
    first = [Turn(10.0, 11.0, True), Turn(10.5, 12.0, True), Turn(11.0, 12.0, False)]
    second = [Turn(100.0, 101.0, True), Turn(100.0, 102.0, True)]
    assert window_seconds(first) == 2.0
    assert window_seconds(second) == 2.0
    # 4 good turns in 2 + 2 seconds, not in the 92 s from the first start to the last reply.
    assert throughput([first, second]) == 1.0
    assert throughput([]) == 0.0
