"""The Twilio SMS client against a local stand-in for Twilio's API, and SMS splitting."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from bot.clients.base import SendError, Sent
from bot.clients.numbered_options import options_line, with_options
from bot.clients.twilio_sms import (
    STATUS_CALLBACK_PATH,
    TwilioConfig,
    TwilioSmsClient,
    fits_two_segments,
    split_for_sms,
)
from bot.core.settings import Settings, SettingsError
from bot.study.plain_language import check_text
from tests.stand_ins.twilio_api import INVALID_NUMBER, TwilioApiStandIn

PHONE = "+15555550123"
FROM = "+15555550100"
YES_NO = [{"title": "Yes", "payload": "yes"}, {"title": "No", "payload": "no"}]
SCALE = [
    {"title": f"{point} {label}", "payload": str(point)}
    for point, label in enumerate(["None", "Mild", "Moderate", "Severe", "Very severe"])
]


@pytest.fixture
def api() -> Iterator[TwilioApiStandIn]:
    with TwilioApiStandIn() as stand_in:
        yield stand_in


def config_for(api: TwilioApiStandIn, **changes: str) -> TwilioConfig:
    values = {
        "account_sid": api.account_sid,
        "auth_token": api.auth_token,
        "from_number": FROM,
        "status_callback_url": "https://sms.example.org" + STATUS_CALLBACK_PATH,
        "api_base_url": api.base_url,
        **changes,
    }
    return TwilioConfig(**values)


def words(parts: list[str]) -> list[str]:
    return " ".join(parts).split()


# --- splitting and numbered options ----------------------------------------------------


def test_a_short_text_is_one_part() -> None:
    assert split_for_sms("  How do you feel today?  ") == ["How do you feel today?"]


def test_long_text_is_split_between_sentences_into_parts_of_two_segments() -> None:
    sentence = "Please take your inhaler once a day with water. "
    text = sentence * 12

    parts = split_for_sms(text)

    assert len(parts) > 1
    assert all(len(part) <= 300 and part.endswith(".") for part in parts)
    assert words(parts) == text.split()


def test_a_long_sentence_is_split_between_words_never_inside_one() -> None:
    text = " ".join(f"word{number}" for number in range(120))

    parts = split_for_sms(text)

    assert len(parts) == 3
    assert all(len(part) <= 300 for part in parts)
    assert words(parts) == text.split()


def test_a_word_longer_than_a_part_is_the_only_thing_cut() -> None:
    parts = split_for_sms("See " + "x" * 400 + " now.")

    assert all(len(part) <= 300 for part in parts)
    assert "".join(parts).replace(" ", "") == "See" + "x" * 400 + "now."


def test_unicode_text_gets_shorter_parts_and_typographic_punctuation_is_made_plain() -> None:
    assert split_for_sms("It\u2019s \u201cfine\u201d \u2014 really\u2026") == [
        'It\'s "fine" - really...'
    ]
    parts = split_for_sms("Merci \u2713 beaucoup. " * 20)
    assert len(parts) > 2
    assert all(fits_two_segments(part) and len(part) <= 134 for part in parts)


def test_line_breaks_inside_a_part_are_kept() -> None:
    assert split_for_sms("First line.\nSecond line.") == ["First line.\nSecond line."]


def test_the_last_part_leaves_room_for_the_numbered_options() -> None:
    text = "Did you take your study medicine as planned today? " * 6

    parts = split_for_sms(text, YES_NO)
    last = f"{parts[-1]}\n{options_line(YES_NO)}"

    assert len(last) <= 300
    assert all(len(part) <= 300 for part in parts)
    assert words(parts) == text.split()


def test_buttons_become_short_plain_numbered_options() -> None:
    assert options_line(YES_NO) == "Reply 1 for Yes, 2 for No."
    assert options_line([]) == ""
    line = options_line(SCALE)
    assert line == "Reply 0 for None, 1 for Mild, 2 for Moderate, 3 for Severe, 4 for Very severe."
    assert check_text(with_options("How bad is your cough at its worst?", SCALE)).ok


# --- sending ---------------------------------------------------------------------------


async def test_send_posts_the_message_with_options_and_status_callback(
    api: TwilioApiStandIn,
) -> None:
    client = TwilioSmsClient(config_for(api))

    sent = await client.send(PHONE, "Did you take your medicine?", YES_NO)

    [request] = api.requests
    assert request.path == f"/2010-04-01/Accounts/{api.account_sid}/Messages.json"
    assert request.username == api.account_sid
    assert request.form == {
        "To": PHONE,
        "From": FROM,
        "Body": "Did you take your medicine?\nReply 1 for Yes, 2 for No.",
        "StatusCallback": "https://sms.example.org/webhooks/twilio/status",
    }
    assert re.fullmatch(r"SM[0-9a-f]{32}", sent.external_id)
    assert sent == Sent(sent.external_id, "queued")


async def test_a_messaging_service_is_used_instead_of_a_number_when_set(
    api: TwilioApiStandIn,
) -> None:
    client = TwilioSmsClient(config_for(api, from_number="", messaging_service_sid="MG" + "1" * 32))

    sent = await client.send(PHONE, "Hello", [])

    [form] = api.messages
    assert form["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in form
    assert sent.status == "accepted"


async def test_no_status_callback_without_a_public_address(api: TwilioApiStandIn) -> None:
    await TwilioSmsClient(config_for(api, status_callback_url="")).send(PHONE, "Hi", [])

    assert "StatusCallback" not in api.messages[0]


def test_making_a_client_sends_nothing(api: TwilioApiStandIn) -> None:
    TwilioSmsClient(config_for(api))

    assert api.requests == []


async def test_a_server_error_is_a_send_error_worth_retrying(api: TwilioApiStandIn) -> None:
    api.fail_next(1, status=500)

    with pytest.raises(SendError) as failure:
        await TwilioSmsClient(config_for(api)).send(PHONE, "Hi", [])

    assert not failure.value.permanent
    assert str(failure.value) == "Twilio error 500 (HTTP 500)"


async def test_an_invalid_number_is_permanent_and_the_error_never_names_it(
    api: TwilioApiStandIn,
) -> None:
    api.fail_next(
        1, status=400, code=INVALID_NUMBER, message=f"The 'To' number {PHONE} is not valid"
    )

    with pytest.raises(SendError) as failure:
        await TwilioSmsClient(config_for(api)).send(PHONE, "Hi", [])

    assert failure.value.permanent
    assert str(failure.value) == "Twilio error 21211 (HTTP 400)"
    assert PHONE not in str(failure.value)


async def test_wrong_credentials_are_retried_later_not_dropped(api: TwilioApiStandIn) -> None:
    with pytest.raises(SendError) as failure:
        await TwilioSmsClient(config_for(api, auth_token="wrong-token-123")).send(PHONE, "Hi", [])

    assert not failure.value.permanent
    assert "20003" in str(failure.value)


async def test_an_unreachable_api_is_a_send_error_worth_retrying() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = TwilioConfig(
        "AC" + "0" * 32, "token-0123456789", FROM, "", "", f"http://127.0.0.1:{port}"
    )

    with pytest.raises(SendError) as failure:
        await TwilioSmsClient(config).send(PHONE, "Hi", [])

    assert not failure.value.permanent
    assert "could not reach Twilio" in str(failure.value)


async def test_send_sms_splits_a_long_staff_text(api: TwilioApiStandIn) -> None:
    text = "Urgent alert for study ID P-001. Please open the console. " * 8

    sent = await TwilioSmsClient(config_for(api)).send_sms(FROM, text)

    assert len(sent) == len(api.messages) > 1
    assert [form["To"] for form in api.messages] == [FROM] * len(sent)
    assert words([form["Body"] for form in api.messages]) == text.split()


def test_config_from_settings_builds_the_status_callback_and_refuses_placeholders() -> None:
    settings = Settings(
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="real-token-123",
        twilio_from_number=FROM,
        twilio_webhook_base_url="https://sms.example.org/rasa/",
        twilio_api_base_url="http://127.0.0.1:9/",
    )

    config = TwilioConfig.from_settings(settings)

    assert config.status_callback_url == "https://sms.example.org/rasa/webhooks/twilio/status"
    assert config.api_base_url == "http://127.0.0.1:9"
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        TwilioConfig.from_settings(settings.copy(update={"twilio_auth_token": "changeme"}))
