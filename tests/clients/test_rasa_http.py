"""The Rasa HTTP API client against a stand-in Rasa: the request it makes and the errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from bot.clients.rasa_http import RasaApiError, RasaHttpApi, RasaUnavailable
from tests.stand_ins.rasa_api import RasaApiStandIn


@pytest.fixture
def rasa() -> Iterator[RasaApiStandIn]:
    with RasaApiStandIn(token="s3cret") as api:
        yield api


async def test_trigger_intent_sends_the_intent_entities_channel_and_token(
    rasa: RasaApiStandIn,
) -> None:
    await RasaHttpApi(rasa.base_url + "/", "s3cret").trigger_intent(
        sender_id="P 001/x",
        intent="start_checkin",
        output_channel="telegram",
        entities={"trigger": "schedule"},
    )

    [call] = rasa.requests
    assert call.conversation_id == "P 001/x"
    assert (call.intent, call.entities) == ("start_checkin", {"trigger": "schedule"})
    assert (call.output_channel, call.token, call.status) == ("telegram", "s3cret", 200)


async def test_a_wrong_token_is_an_error(rasa: RasaApiStandIn) -> None:
    with pytest.raises(RasaApiError, match="refused the API token"):
        await RasaHttpApi(rasa.base_url, "wrong").trigger_intent(
            sender_id="P-001", intent="start_checkin", output_channel="twilio"
        )
    assert [call.status for call in rasa.requests] == [401]


async def test_an_intent_rasa_does_not_know_is_an_error(rasa: RasaApiStandIn) -> None:
    with pytest.raises(RasaApiError, match="HTTP 404"):
        await RasaHttpApi(rasa.base_url, "s3cret").trigger_intent(
            sender_id="P-001", intent="no_such_intent", output_channel="twilio"
        )


async def test_replies_collected_instead_of_sent_are_an_error(rasa: RasaApiStandIn) -> None:
    with pytest.raises(RasaApiError, match="no output channel 'whatsapp'"):
        await RasaHttpApi(rasa.base_url, "s3cret").trigger_intent(
            sender_id="P-001", intent="start_checkin", output_channel="whatsapp"
        )


async def test_rasa_not_listening_is_unavailable_which_may_be_retried() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(RasaUnavailable):
        await RasaHttpApi(f"http://127.0.0.1:{port}", "s3cret").trigger_intent(
            sender_id="P-001", intent="start_checkin", output_channel="twilio"
        )


async def test_a_server_error_may_have_been_handled_so_it_is_not_unavailable(
    rasa: RasaApiStandIn,
) -> None:
    rasa.fail_next(1, status=500)
    with pytest.raises(RasaApiError) as raised:
        await RasaHttpApi(rasa.base_url, "s3cret").trigger_intent(
            sender_id="P-001", intent="start_checkin", output_channel="twilio"
        )
    assert not isinstance(raised.value, RasaUnavailable)
