"""Retrying: a send tried again at once, stopped by a permanent error, every error kept."""

from __future__ import annotations

import pytest

from bot.clients.base import SendError, Sent
from bot.core.retry import try_in_turn, with_retries


class Flaky:
    """Fails with the given errors in turn, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def send(self) -> Sent:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return Sent(f"id-{self.calls}")


def permanent(error: SendError) -> bool:
    return error.permanent


async def test_a_send_that_fails_for_a_moment_is_tried_again_and_succeeds() -> None:
    flaky = Flaky(SendError("timeout"), SendError("502"))
    tries = await try_in_turn(flaky.send, SendError, waits=(0.0, 0.0), give_up=permanent)

    assert tries.succeeded
    assert tries.result == Sent("id-3")
    assert tries.attempts == 3
    assert [str(error) for error in tries.errors] == ["timeout", "502"]


async def test_out_of_tries_returns_the_last_error_instead_of_raising() -> None:
    seen: list[tuple[str, int]] = []
    flaky = Flaky(*(SendError(f"down {n}") for n in range(5)))
    tries = await try_in_turn(
        flaky.send,
        SendError,
        waits=(0.0, 0.0),
        give_up=permanent,
        on_error=lambda error, attempt: seen.append((str(error), attempt)),
    )

    assert not tries.succeeded and tries.result is None
    assert tries.attempts == 3
    assert str(tries.last_error) == "down 2"
    assert seen == [("down 0", 1), ("down 1", 2), ("down 2", 3)]


async def test_a_permanent_error_is_not_tried_again() -> None:
    flaky = Flaky(SendError("invalid number", permanent=True))
    tries = await try_in_turn(flaky.send, SendError, waits=(0.0, 0.0), give_up=permanent)

    assert (tries.attempts, flaky.calls) == (1, 1)
    assert tries.last_error is not None and tries.last_error.permanent


async def test_an_unexpected_error_is_a_bug_and_propagates() -> None:
    flaky = Flaky(KeyError("bug"))
    with pytest.raises(KeyError):
        await try_in_turn(flaky.send, SendError, waits=(0.0,))


def test_with_retries_raises_the_last_error_after_its_attempts() -> None:
    calls: list[int] = []

    def work() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("blip")
        return len(calls)

    assert with_retries(work, ConnectionError, attempts=3, first_wait=0.0) == 3
    calls.clear()
    with pytest.raises(ConnectionError):
        with_retries(work, ConnectionError, attempts=2, first_wait=0.0)
