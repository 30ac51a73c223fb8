"""How fast the clients hand messages to their providers: Telegram's and Twilio's limits.

- Telegram's Bot API takes about 30 messages a second from one bot and about one a second
  in one chat (short bursts pass); beyond that it answers 429 with a Retry-After. The
  Telegram pace is TELEGRAM_RATE_LIMIT for the bot (default 30 a second) and
  TELEGRAM_CHAT_RATE_LIMIT per chat (default 5 in 5 seconds: one a second on average, a
  reply of a few messages in one go).
- Twilio takes messages as fast as they are sent and queues them per sender, sending each
  sender's queue at its throughput (a US long code: 1 message segment a second, the
  default TWILIO_MPS; a short code about 100; with a messaging service, its numbers'
  sum). Handing a burst over quickly is therefore fine, as long as the queue can hold it:
  one holding more than its limit (4 hours' worth, TWILIO_QUEUE_SECONDS; Twilio's pages
  give 4 to 10 hours) fails new messages (error 21611, or 30001 through a messaging
  service). The Twilio pace is that queue per sender: at most TWILIO_MPS x
  TWILIO_QUEUE_SECONDS segments in any TWILIO_QUEUE_SECONDS; a send beyond it waits here
  instead of failing there.

The limits are `limits` moving windows (as bot/web/throttle.py uses them), kept in this
process's memory, or in Redis when REDIS_URL is set, so that every process that sends
(the Rasa servers, whose output channels send what a triggered check-in says; the
outreach and alert workers) spends one budget. A send that finds a window full waits for
one message's share of the window and tries again. An empty limit turns a rule off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from bot.core.settings import Settings, get_settings

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
ALL = "all"


@dataclass(frozen=True)
class Rule:
    """One limit, for the whole provider or for each address (chat, sender) separately."""

    limit: RateLimitItem
    per_address: bool = False


def rules(text: str, *, per_address: bool = False) -> list[Rule]:
    """Rules from a limits string ("30/second", "5/5seconds;20/minute"; empty: none)."""
    return [Rule(item, per_address) for item in parse_many(text)] if text.strip() else []


class Pace:
    """Holds each send back until every rule lets it through (see the module docstring)."""

    def __init__(
        self,
        name: str,
        rules: Sequence[Rule],
        *,
        storage: Storage | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._name = name
        self._rules = list(rules)
        # The limiter keeps only a weak reference to its storage: hold it here.
        self._storage = storage or MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._sleep = sleep

    async def wait(self, address: str, cost: int = 1) -> float:
        """Wait until one more message (of `cost` units: SMS segments) to `address` may go;
        the seconds waited. The caller sends it right after."""
        waited = 0.0
        for rule in self._rules:
            key = address if rule.per_address else ALL
            # A message bigger than a whole window still goes, as the window's only one.
            units = max(1, min(cost, rule.limit.amount))
            while not self._limiter.hit(rule.limit, self._name, key, cost=units):
                pause = rule.limit.get_expiry() / rule.limit.amount
                await self._sleep(pause)
                waited += pause
        if waited:
            logger.debug("%s: a send waited %.1f s for the provider's limits", self._name, waited)
        return waited


def _storage(settings: Settings) -> Storage:
    """Redis when REDIS_URL is set (shared by every process), else this process's memory."""
    if settings.redis_url:
        return storage_from_string(settings.redis_url)
    return MemoryStorage()


@lru_cache(maxsize=8)
def _pace(name: str, telegram: str, chat: str, twilio: str, redis_url: str) -> Pace:
    settings = get_settings()
    storage = _storage(settings)
    if name == "telegram":
        return Pace(name, [*rules(chat, per_address=True), *rules(telegram)], storage=storage)
    return Pace(name, rules(twilio, per_address=True), storage=storage)


def twilio_limit(settings: Settings) -> str:
    """The Twilio rule as a limits string: what one sender's queue holds (empty: off)."""
    if settings.twilio_mps <= 0 or settings.twilio_queue_seconds <= 0:
        return ""
    segments = max(1, int(settings.twilio_mps * settings.twilio_queue_seconds))
    return f"{segments}/{settings.twilio_queue_seconds}second"


def provider_pace(name: str, settings: Settings | None = None) -> Pace:
    """This process's pace for "telegram" or "sms" (one per process and settings)."""
    settings = settings or get_settings()
    return _pace(
        name,
        settings.telegram_rate_limit,
        settings.telegram_chat_rate_limit,
        twilio_limit(settings),
        settings.redis_url,
    )
