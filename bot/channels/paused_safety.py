"""What runs after Rasa has handled a participant's message, on every channel.

While a conversation is paused (a staff member has taken it over) Rasa still reads each
message (NLU runs; the red-flag guard marks an emergency) but predicts no action, so
nothing would answer "crushing chest pain". Safety rule 1 holds whatever the conversation
is doing, so every channel hands its messages to Rasa through `guarded(...)`: once Rasa
has handled a message, if the conversation is paused and the message is an emergency
(intent `emergency`, or a red flag), `action_emergency` is run for it at once on the same
output channel: the participant gets the emergency instruction (the crisis line for
self-harm) and an emergency escalation is stored for staff.

Then, when a staff member has the conversation, they are told that the participant wrote
(bot.handoff.notify: a notice with a link, not the words).

If the assistant fails on a message, the participant still gets a reply: the
`assistant_failed` wording (the emergency number and the nurse line).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, Sanic

from bot.handoff.notify import notify_staff_of_message

if TYPE_CHECKING:  # importing the agent loads TensorFlow; the Rasa server has it already
    from rasa.core.agent import Agent

logger = logging.getLogger(__name__)

Handler = Callable[[UserMessage], Awaitable[Any]]

EMERGENCY_INTENT = "emergency"
EMERGENCY_ACTION = "action_emergency"
RED_FLAGS = "red_flags"


def guarded(on_new_message: Handler, blueprint: Blueprint) -> Handler:
    """`on_new_message`, followed by the paused-conversation checks of this module."""
    apps: list[Sanic] = []

    @blueprint.listener("before_server_start")
    async def remember_app(app: Sanic, loop: Any) -> None:
        apps[:] = [app]

    async def handle(message: UserMessage) -> Any:
        try:
            result = await on_new_message(message)
        except Exception:
            await _safety_net(message)
            raise
        agent = getattr(apps[0].ctx, "agent", None) if apps else None
        await after_message(agent, message)
        return result

    return handle


async def _safety_net(message: UserMessage) -> None:
    """The assistant failed on a message: never leave the participant in silence."""
    from bot.study import current_study
    from bot.wording import messages

    logger.error(
        "the assistant failed on a message of %s: sending the safety reply", message.sender_id
    )
    try:
        for text in messages(current_study(), "assistant_failed"):
            await message.output_channel.send_text_message(message.sender_id, text)
    except Exception:
        logger.exception("the safety reply to %s could not be sent either", message.sender_id)


async def after_message(agent: Any, message: UserMessage) -> None:
    """The emergency check of a paused conversation, then the notice to staff, if any."""
    if _is_rasa_agent(agent):
        try:
            await emergency_if_paused(agent, message)
        except Exception:
            logger.exception(
                "conversation %s: the emergency check of a paused conversation failed",
                message.sender_id,
            )
    try:
        await notify_staff_of_message(sender_id=message.sender_id)
    except Exception:
        logger.exception("conversation %s: staff not told of a new message", message.sender_id)


def _is_rasa_agent(agent: Any) -> bool:
    """True for Rasa's agent (a channel test's stand-in has no tracker to check)."""
    module = sys.modules.get("rasa.core.agent")
    return module is not None and isinstance(agent, module.Agent)


async def emergency_if_paused(agent: Agent, message: UserMessage) -> bool:
    """Run `action_emergency` when a paused conversation's message is an emergency."""
    tracker = await agent.tracker_store.retrieve(message.sender_id)
    if tracker is None or not tracker.is_paused():
        return False
    uttered = _uttered(tracker, message.message_id)
    if uttered is None or not is_emergency(uttered):
        return False
    async with agent.lock_store.lock(message.sender_id):
        await agent.execute_action(
            message.sender_id, EMERGENCY_ACTION, message.output_channel, None, None
        )
    logger.warning(
        "conversation %s is paused for a person: emergency reply sent and escalation stored",
        message.sender_id,
    )
    return True


def is_emergency(uttered: UserUttered) -> bool:
    """True when the red-flag check (or the model) found an emergency in the message."""
    return uttered.intent_name == EMERGENCY_INTENT or bool(uttered.parse_data.get(RED_FLAGS))


def _uttered(tracker: DialogueStateTracker, message_id: str | None) -> UserUttered | None:
    """The tracker's event of this message."""
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered) and event.message_id == message_id:
            return event
    return None
