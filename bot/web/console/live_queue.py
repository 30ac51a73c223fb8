"""The live queue: open queue and escalation pages hear at once when the queue changes.

Escalations are raised, merged and acknowledged by other processes (the Rasa server, the
action server, the alert worker, other web instances), so the only place a change shows
is the shared database. One `QueueWatch` per web process asks it for the queue's
fingerprint (`bot.escalation.queue.queue_version`, one aggregate row) every
POLL_SECONDS while anyone listens, and tells every listener when it changed; the poller
starts with the first listener and stops with the last.

- `GET /console/api/queue/events`: server-sent events (text/event-stream): a `queue`
  event on each change and a keep-alive comment every KEEPALIVE_SECONDS. The page then
  fetches the list again (`/console/api/queue/fragment`, bot.web.console.routes).
- `GET /console/api/escalations/<id>/status`: one escalation's status and repeat count,
  so its page can tell whether the change was its own.

Neither writes an audit event: they carry no participant data, and the page whose data
they refresh audited its visit when it was loaded. A stream ends when its browser goes
(Starlette cancels it on the disconnect) or when the server stops (uvicorn's
`--timeout-graceful-shutdown`, bot.supervisor).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Hashable

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.db.session import session_scope
from bot.escalation.queue import queue_entry, queue_version
from bot.staff.permissions import Permission
from bot.study.config import current_study
from bot.web.console.access import ConsoleUser, NotFound, require
from bot.web.console.sessions import CONSOLE_PATH

logger = logging.getLogger(__name__)

router = APIRouter(prefix=CONSOLE_PATH)

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
RECONNECT_MILLISECONDS = 3000
QUEUE_EVENT = "queue"

queue_viewer = Depends(require(Permission.VIEW_QUEUE))
conversation_viewer = Depends(require(Permission.VIEW_CONVERSATION))


class QueueWatch:
    """One poller for the whole process, whatever the number of listeners.

    Each listener gets an inbox holding at most one pending change: a listener that is
    slow to read gets one event for several changes (it fetches the whole list anyway).
    """

    def __init__(self, version: Callable[[], Hashable], *, interval: float = POLL_SECONDS):
        self._version = version
        self._interval = interval
        self._inboxes: set[asyncio.Queue[int]] = set()
        self._task: asyncio.Task[None] | None = None
        self.changes = 0  # how many changes it has seen (the events' number)
        self.polls = 0  # how many times it asked the database

    @property
    def listeners(self) -> int:
        """How many streams are listening now."""
        return len(self._inboxes)

    @property
    def running(self) -> bool:
        """True while the poller runs."""
        return self._task is not None and not self._task.done()

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[int]]:
        """An inbox of change numbers for as long as the block runs; starts the poller."""
        inbox: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        self._inboxes.add(inbox)
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._poll(), name="queue-watch")
        try:
            yield inbox
        finally:
            self._inboxes.discard(inbox)
            if not self._inboxes and self._task is not None:
                self._task.cancel()  # no await: this may run while being cancelled
                self._task = None

    async def _poll(self) -> None:
        """Ask for the fingerprint every interval; tell everyone when it changed."""
        last: Hashable | None = None
        while True:
            try:
                current = await asyncio.to_thread(self._version)
            except SQLAlchemyError:  # keep watching: the database may be back next time
                logger.warning("live queue: the queue could not be read", exc_info=True)
            else:
                self.polls += 1
                if last is not None and current != last:
                    self._tell_everyone()
                last = current
            await asyncio.sleep(self._interval)

    def _tell_everyone(self) -> None:
        """Put the change in every inbox that has no change waiting already."""
        self.changes += 1
        for inbox in self._inboxes:
            with contextlib.suppress(asyncio.QueueFull):
                inbox.put_nowait(self.changes)


def current_queue_version() -> Hashable:
    """The queue's fingerprint, read in a session of its own."""
    with session_scope() as session:
        return queue_version(session=session)


watch = QueueWatch(current_queue_version)


async def queue_events(inbox: asyncio.Queue[int]) -> AsyncIterator[str]:
    """The event stream: the reconnect delay, then each change, with keep-alives between."""
    yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
    while True:
        try:
            change = await asyncio.wait_for(inbox.get(), timeout=KEEPALIVE_SECONDS)
        except asyncio.TimeoutError:
            yield ": keep-alive\n\n"
            continue
        yield f"event: {QUEUE_EVENT}\ndata: {json.dumps({'change': change})}\n\n"


async def _stream() -> AsyncIterator[str]:
    """The events for one browser, listening only while it is connected."""
    async with watch.listen() as inbox:
        async for chunk in queue_events(inbox):
            yield chunk


@router.get("/api/queue/events")
async def queue_events_stream(user: ConsoleUser = queue_viewer) -> StreamingResponse:
    """Server-sent events: `queue` whenever the queue changes (no data about anyone)."""
    logger.info("live queue: staff user %s listening", user.id)
    return StreamingResponse(
        _stream(),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},  # nginx: pass each event on at once
    )


def _status(escalation_id: int) -> dict[str, object]:
    """What the escalation page compares to tell whether its escalation changed."""
    with session_scope() as session:
        entry = queue_entry(session=session, study=current_study(), escalation_id=escalation_id)
    if entry is None:
        raise NotFound("There is no such escalation.")
    return {
        "id": entry.escalation_id,
        "status": entry.status.value,
        "repeat_count": entry.repeat_count,
        "acknowledged_by": entry.acknowledged_by_name,
        "resolved_by": entry.resolved_by_name,
    }


@router.get("/api/escalations/{escalation_id}/status", dependencies=[conversation_viewer])
def escalation_status(escalation_id: int) -> JSONResponse:
    """One escalation's status, who acknowledged or resolved it, and its repeat count."""
    return JSONResponse(_status(escalation_id))
