"""The providers' limits (bot/clients/pace.py): a send beyond a limit waits for room, per
bot and per chat on Telegram, per sender and in SMS segments on Twilio; the clients wait."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bot.clients.pace import Pace, rules, twilio_limit
from bot.clients.telegram_bot import TelegramClient
from bot.clients.twilio_sms import TwilioConfig, TwilioSmsClient, segments
from bot.core.settings import Settings
from tests.stand_ins.telegram_api import TelegramApiStandIn
from tests.stand_ins.twilio_api import TwilioApiStandIn


class Pauses:
    """A sleep that notes each pause (and takes it, so the window really moves on)."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)
        await asyncio.sleep(seconds)


@pytest.fixture
def pauses() -> Pauses:
    """The pauses a pace took."""
    return Pauses()


async def test_sends_within_the_limit_go_at_once_and_the_next_one_waits(pauses: Pauses) -> None:
    pace = Pace("telegram", rules("3/second"), sleep=pauses)

    assert [await pace.wait("chat-a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pauses.taken == []

    assert await pace.wait("chat-b") > 0  # the bot's limit counts every chat
    assert pauses.taken


async def test_a_per_chat_limit_holds_back_that_chat_only(pauses: Pauses) -> None:
    pace = Pace("telegram", rules("1/second", per_address=True), sleep=pauses)

    assert await pace.wait("chat-a") == 0.0
    assert await pace.wait("chat-b") == 0.0
    assert pauses.taken == []
    assert await pace.wait("chat-a") > 0


async def test_sms_segments_count_against_a_senders_queue(pauses: Pauses) -> None:
    pace = Pace("sms", rules("3/second", per_address=True), sleep=pauses)

    assert await pace.wait("+15555550100", cost=2) == 0.0
    assert await pace.wait("+15555550199", cost=2) == 0.0  # another sender, its own queue
    assert pauses.taken == []
    assert await pace.wait("+15555550100", cost=2) > 0  # 4 segments > 3 in one second


async def test_no_limit_set_never_waits(pauses: Pauses) -> None:
    pace = Pace("telegram", rules(""), sleep=pauses)

    for _ in range(50):
        assert await pace.wait("chat-a") == 0.0
    assert pauses.taken == []


def test_sms_segments_are_counted_as_twilio_counts_them() -> None:
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("a" * 306) == 2
    assert segments("é" * 70) == 1  # é is in the GSM alphabet
    assert segments("ñ" * 160) == 1
    assert segments("ü" + "ş" * 69) == 1  # ş forces Unicode: 70 per segment
    assert segments("ş" * 71) == 2


def test_the_twilio_limit_is_what_one_senders_queue_holds() -> None:
    assert twilio_limit(Settings(twilio_mps=1, twilio_queue_seconds=14400)) == "14400/14400second"
    assert twilio_limit(Settings(twilio_mps=100, twilio_queue_seconds=3600)) == (
        "360000/3600second"
    )
    assert twilio_limit(Settings(twilio_mps=0)) == ""
    [rule] = rules(twilio_limit(Settings()), per_address=True)
    assert (rule.limit.amount, rule.limit.get_expiry()) == (14400, 14400)


@pytest.fixture
def telegram_api() -> Iterator[TelegramApiStandIn]:
    """Telegram's Bot API, on a local port."""
    with TelegramApiStandIn() as api:
        yield api


async def test_the_telegram_client_waits_for_the_chats_limit(
    telegram_api: TelegramApiStandIn, pauses: Pauses
) -> None:
    pace = Pace("telegram", rules("1/second", per_address=True), sleep=pauses)
    client = TelegramClient(telegram_api.token, api_base_url=telegram_api.base_url, pace=pace)
    try:
        await client.send_plain("4242", "one")
        assert pauses.taken == []
        await client.send_plain("4242", "two")
    finally:
        await client.aclose()

    assert pauses.taken
    assert [call.params["text"] for call in telegram_api.calls("sendMessage")] == ["one", "two"]


async def test_the_twilio_client_waits_when_the_senders_queue_is_full(pauses: Pauses) -> None:
    pace = Pace("sms", rules("2/second", per_address=True), sleep=pauses)
    with TwilioApiStandIn() as api:
        config = TwilioConfig(
            account_sid=api.account_sid,
            auth_token=api.auth_token,
            from_number="+15555550100",
            api_base_url=api.base_url,
        )
        client = TwilioSmsClient(config, pace=pace)
        await client.send("+15555550123", "a" * 200, [])  # two segments: the queue is full
        assert pauses.taken == []
        await client.send("+15555550123", "short", [])

        assert pauses.taken
        assert [message["Body"] for message in api.messages] == ["a" * 200, "short"]
