"""Retrying (tenacity): work that can fail for a moment is tried again.

    stored = with_retries(lambda: store(...), OperationalError)

Waits grow exponentially from `first_wait` seconds; after `attempts` tries the last error
is raised. Each retry is logged at WARNING with what was retried, never with data.

    tries = await try_in_turn(lambda: client.send(...), SendError, waits=(0.5, 2.0),
                              give_up=lambda error: error.permanent)

tries a send now and after each wait, stopping at the first success or at an error that
`give_up` says sending again cannot fix; it returns what happened instead of raising, so
the caller records every attempt (the message log, an alert delivery row).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryError,
    Retrying,
    before_sleep_log,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    wait_chain,
    wait_exponential,
    wait_fixed,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


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


@dataclass
class Tries(Generic[T, E]):
    """How a `try_in_turn` went: the result of the try that worked, and every error."""

    result: T | None = None
    attempts: int = 0
    errors: list[E] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.attempts > len(self.errors)

    @property
    def last_error(self) -> E | None:
        return self.errors[-1] if self.errors else None


async def try_in_turn(
    work: Callable[[], Awaitable[T]],
    error: type[E],
    *,
    waits: Sequence[float],
    give_up: Callable[[E], bool] = lambda _: False,
    on_error: Callable[[E, int], None] | None = None,
) -> Tries[T, E]:
    """`await work()` now and again after each of `waits` seconds until it works.

    Only `error` is caught (anything else is a bug and propagates); an error for which
    `give_up` is true ends the tries at once. `on_error(error, attempt)` sees each failure.
    """
    tries: Tries[T, E] = Tries()

    async def attempt() -> T:
        tries.attempts += 1
        try:
            return await work()
        except error as failure:
            tries.errors.append(failure)
            if on_error is not None:
                on_error(failure, tries.attempts)
            raise

    retrying = AsyncRetrying(
        retry=retry_if_exception(
            lambda failure: isinstance(failure, error) and not give_up(failure)
        ),
        stop=stop_after_attempt(len(waits) + 1),
        wait=wait_chain(*(wait_fixed(seconds) for seconds in waits)) if waits else wait_fixed(0),
        reraise=False,
    )
    # Out of tries (RetryError) or given up (the error itself): `tries` says which.
    with contextlib.suppress(RetryError, error):
        tries.result = await retrying(attempt)
    return tries
