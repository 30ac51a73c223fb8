"""Rasa's check of the action server's reply, with its validator built once
(bot.core.rasa_patches): applied with the installed Rasa, as strict as Rasa's own."""

from __future__ import annotations

import logging
from typing import Any

import jsonschema
import jsonschema.validators
import pytest
import rasa
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from bot.core import rasa_patches

VALID = {
    "events": [
        {"event": "slot", "timestamp": None, "name": "current_symptom", "value": "headache"},
        {"event": "active_loop", "timestamp": None, "name": "symptom_form"},
    ],
    "responses": [{"text": "How often did you have a headache?", "buttons": []}],
}
MALFORMED = {
    "events not a list": {"events": "not a list"},
    "an event without its name": {"events": [{"name": "current_symptom", "value": "x"}]},
    "an unknown event": {"events": [{"event": "no_such_event"}]},
    "a slot event without a slot": {"events": [{"event": "slot", "value": 1}]},
    "responses not a list": {"events": [], "responses": {"text": "hi"}},
    "a response not an object": {"events": [], "responses": ["hi"]},
    "not an object": ["events"],
}


@pytest.fixture(scope="module", autouse=True)
def patched() -> None:
    """The patch as bot.rasa_server applies it (it stays: the same checks either way)."""
    assert rasa_patches.apply()


def rasa_as_shipped(action: RemoteAction, reply: Any) -> bool:
    """Rasa's own `_validate_action_result`, kept by the patch as `__wrapped__`."""
    return RemoteAction._validate_action_result.__wrapped__(action, reply)  # type: ignore[attr-defined]


def test_the_patch_is_applied_with_the_installed_rasa() -> None:
    # Fails after a Rasa upgrade the patch does not know: check the patch, then the version.
    assert rasa.__version__.startswith(rasa_patches.SUPPORTED_RASA)
    assert getattr(RemoteAction._validate_action_result, rasa_patches.PATCH_MARK, False)
    assert rasa_patches.apply()  # a second call keeps the one patch
    assert not getattr(
        RemoteAction._validate_action_result.__wrapped__,  # type: ignore[attr-defined]
        rasa_patches.PATCH_MARK,
        False,
    )


@pytest.mark.parametrize("reply", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_reply_is_refused_as_rasa_refuses_it(reply: Any) -> None:
    action = RemoteAction("action_symptom", None)
    with pytest.raises(ValidationError) as shipped:
        rasa_as_shipped(action, reply)
    with pytest.raises(ValidationError) as patched:
        action._validate_action_result(reply)

    assert type(patched.value) is type(shipped.value)
    assert str(patched.value) == str(shipped.value)
    assert "Failed to validate Action server response from API" in patched.value.message


def test_a_valid_reply_passes() -> None:
    action = RemoteAction("action_symptom", None)
    assert action._validate_action_result(VALID) is True
    assert action._validate_action_result({}) is True


def test_the_schema_is_checked_and_its_validator_built_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the schema was checked again for one reply")

    monkeypatch.setattr(jsonschema, "validate", never)
    # (not validator_for: the validator itself calls it for each part of the schema)
    for validator_class in jsonschema.validators._VALIDATORS.values():
        monkeypatch.setattr(validator_class, "check_schema", classmethod(never))
    action = RemoteAction("action_symptom", None)

    for _ in range(50):
        assert action._validate_action_result(VALID) is True
        with pytest.raises(ValidationError):
            action._validate_action_result(MALFORMED["an event without its name"])


class ActionServerStandIn:
    """An action endpoint (EndpointConfig's interface) that answers with a fixed reply."""

    url = "http://actions.invalid/webhook"
    kwargs: dict[str, Any] = {}

    def __init__(self, reply: Any) -> None:
        self.reply = reply

    async def request(self, **kwargs: Any) -> Any:
        """The reply, whatever was asked."""
        return self.reply


async def run_remote_action(reply: Any) -> list[Any]:
    """Run a RemoteAction whose action server answers `reply`."""
    action = RemoteAction("action_symptom", ActionServerStandIn(reply))  # type: ignore[arg-type]
    domain = Domain.empty()
    return await action.run(
        CollectingOutputChannel(),
        TemplatedNaturalLanguageGenerator(domain.responses),
        DialogueStateTracker("participant", []),
        domain,
    )


async def test_rasa_runs_a_valid_reply_and_refuses_a_malformed_one() -> None:
    events = await run_remote_action(VALID)
    assert SlotSet("current_symptom", "headache") in events

    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        await run_remote_action({"events": "not a list"})


def test_another_rasa_or_a_changed_rasa_is_left_as_it_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class ChangedRemoteAction:
        """A RemoteAction whose reply check moved (no `_validate_action_result`)."""

        @staticmethod
        def action_response_format_spec() -> dict[str, Any]:
            return {"type": "object"}

    class SameRemoteAction(ChangedRemoteAction):
        """The same methods as Rasa 3.6's, in a Rasa of another version."""

        def _validate_action_result(self, result: dict[str, Any]) -> bool:
            return True

    unchanged = SameRemoteAction._validate_action_result
    with caplog.at_level(logging.WARNING, logger=rasa_patches.__name__):
        assert not rasa_patches.patch_action_reply_validation(SameRemoteAction, "3.7.0")
        assert not rasa_patches.patch_action_reply_validation(ChangedRemoteAction, "3.6.21")

    assert SameRemoteAction._validate_action_result is unchanged
    assert not hasattr(ChangedRemoteAction, "_validate_action_result")
    assert "Rasa 3.7.0 is not 3.6.x" in caplog.text
    assert "has no ChangedRemoteAction._validate_action_result" in caplog.text


def test_a_subclass_with_its_own_schema_keeps_rasas_check() -> None:
    class StricterRemoteAction(RemoteAction):
        """A RemoteAction that accepts no events at all."""

        @staticmethod
        def action_response_format_spec() -> dict[str, Any]:
            return {"type": "object", "properties": {"events": {"type": "array", "maxItems": 0}}}

    action = StricterRemoteAction("action_symptom", None)
    with pytest.raises(ValidationError):
        action._validate_action_result(VALID)
