"""The one retry helper (tenacity): work that can fail for a moment is tried again.

    stored = with_retries(lambda: store(...), OperationalError)

Waits grow exponentially from `first_wait` seconds; after `attempts` tries the last error
is raised. Each retry is logged at WARNING with what was retried, never with data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")


def with_retries(
    work: Callable[[], T],
    *errors: type[BaseException],
    attempts: int = 5,
    first_wait: float = 0.05,
    max_wait: float = 2.0,
) -> T:
    """`work()`, tried again on any of `errors` (at most `attempts` tries in all)."""
    for attempt in Retrying(
        retry=retry_if_exception_type(errors),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=first_wait, max=max_wait),
        before_sleep=before_sleep_log(logger, logging.WARNING),
        reraise=True,
    ):
        with attempt:
            return work()
    raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover
