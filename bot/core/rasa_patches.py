"""Small patches of Rasa 3.6 kept in the project, applied in the Rasa server process.

    from bot.core import rasa_patches
    rasa_patches.apply()   # before Rasa starts (bot.rasa_server.main); safe to call twice

One patch today: **the action server's reply is checked by a validator built once.**
Rasa's `RemoteAction._validate_action_result` calls `jsonschema.validate(reply, spec)` on
every reply of the action server. `jsonschema.validate` picks a validator class for the
schema, re-checks the schema itself against the JSON Schema meta-schema
(`check_schema`) and builds a new validator each time: about 18 ms per reply for Rasa's
large, fixed events schema, a third of a turn here. The patched method checks the same
schema (`RemoteAction.action_response_format_spec()`, read once) with one validator of
the same class, built and checked once, and raises exactly what Rasa raises on a bad
reply: the `jsonschema.ValidationError` that `jsonschema.validate` would pick
(`best_match`), its message extended with Rasa's own hint.

Rasa's version is checked: on anything but Rasa 3.6.x, or if the patched method or the
schema is missing, nothing is patched and a warning says why (Rasa then behaves as it
ships, only slower). tests/core/test_rasa_patches.py asserts the patch is applied with
the installed Rasa, so an upgrade that drops it is noticed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

SUPPORTED_RASA = "3.6."
# Set on the patched method: `apply` recognises its own patch and does not patch twice.
PATCH_MARK = "_trialbot_validator_built_once"


def apply() -> bool:
    """Apply the patches to the installed Rasa; True if they are in place (idempotent)."""
    import rasa
    from rasa.utils.common import update_tensorflow_log_level

    # RemoteAction's module imports TensorFlow, earlier than `rasa run` would: quiet its
    # start-up messages first, as Rasa does before its own first import of TensorFlow.
    update_tensorflow_log_level()
    from rasa.core.actions.action import RemoteAction

    return patch_action_reply_validation(RemoteAction, rasa.__version__)


def patch_action_reply_validation(remote_action: type, rasa_version: str) -> bool:
    """Make `remote_action` check action-server replies with one validator built once.

    `remote_action` is Rasa's `RemoteAction` (a parameter so that a test can give a
    stand-in class). Returns False, with a warning, if this Rasa is not the one the patch
    was written for; True if the class is patched (now or by an earlier call).
    """
    original = getattr(remote_action, "_validate_action_result", None)
    spec = getattr(remote_action, "action_response_format_spec", None)
    if not rasa_version.startswith(SUPPORTED_RASA):
        logger.warning(
            "Rasa %s is not %sx: the action-reply validator is not patched (each reply "
            "rebuilds it, as Rasa ships); check bot/core/rasa_patches.py",
            rasa_version,
            SUPPORTED_RASA,
        )
        return False
    if not callable(original) or not callable(spec):
        logger.warning(
            "Rasa %s has no %s._validate_action_result or action_response_format_spec: "
            "the action-reply validator is not patched; check bot/core/rasa_patches.py",
            rasa_version,
            getattr(remote_action, "__name__", remote_action),
        )
        return False
    if getattr(original, PATCH_MARK, False):
        return True
    remote_action._validate_action_result = _validate_with(spec, original)  # type: ignore[attr-defined]
    return True


def _validate_with(spec: Callable[[], dict[str, Any]], original: Callable[..., bool]) -> Any:
    """Rasa's `_validate_action_result`, with the validator of `spec()` built once."""
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    from rasa.shared.constants import DOCS_BASE_URL

    # What jsonschema.validate(reply, schema) does on each call, done once here.
    schema = spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        """Check an action server's reply against Rasa's schema; ValidationError if bad."""
        if type(self).action_response_format_spec is not spec:
            # A subclass with its own schema: Rasa's own code, unchanged.
            return original(self, result)
        # Iterating errors reads the validator's reference resolver, which is not
        # thread-safe; Rasa calls this on its event loop's thread, one reply at a time.
        error = best_match(validator.iter_errors(result))
        if error is None:
            return True
        # Exactly Rasa's handling (rasa/core/actions/action.py, RemoteAction).
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error

    setattr(_validate_action_result, PATCH_MARK, True)
    _validate_action_result.__wrapped__ = original  # type: ignore[attr-defined]
    return _validate_action_result
