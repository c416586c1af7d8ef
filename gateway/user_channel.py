"""A socket's user-side channels: its user's, its session's and the address watch's, held in
the process's hub (realtime/hub.py) like its conversations, and the task that handles their
events one at a time, in the order published.

Per-user events (a new conversation, a forced close, profile and presence changes) reach a
socket through the same broker as conversation events (realtime/broker.py); only their
channels differ. The socket's presence connection id is made here too (`open`).
"""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

logger = logging.getLogger(__name__)

UserEvent = tuple[str, dict[str, Any]]


class Topics(Protocol):
    """The process's hub, as a socket's user channel sees it (realtime/hub.py)."""

    async def join_topics(self, subscriber: Any, topics: Iterable[str]) -> None: ...
    async def leave_topics(self, subscriber: Any, topics: Iterable[str]) -> None: ...


class UserChannel:
    def __init__(self, hub: Topics, subscriber: Any) -> None:
        self.hub = hub
        self.subscriber = subscriber  # what the hub knows this socket as
        self.name = ""
        self.topics: set[str] = set()
        # Events that came before `start`, then the ones the receiver has not handled yet.
        self.queue: asyncio.Queue[UserEvent] = asyncio.Queue()
        self.receiver: asyncio.Task[None] | None = None

    def open(self) -> str:
        """A name of its own: the socket's presence connection id."""
        self.name = f"ws.{uuid.uuid4().hex}"
        return self.name

    async def join(self, topic: str) -> None:
        self.topics.add(topic)  # added first: a handshake failing in the join still leaves it
        await self.hub.join_topics(self.subscriber, [topic])

    def put(self, handler: str, event: dict[str, Any]) -> None:
        """Called by the hub, in the event loop, once per event of one of the socket's topics."""
        self.queue.put_nowait((handler, event))

    def start(self, handle: Callable[[str, dict[str, Any]], Awaitable[None]]) -> None:
        """Hands each event received to `handle`, one at a time, in order."""
        self.receiver = asyncio.get_running_loop().create_task(self._receive(handle))

    async def _receive(self, handle: Callable[[str, dict[str, Any]], Awaitable[None]]) -> None:
        while True:
            handler, event = await self.queue.get()
            try:
                await handle(handler, event)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("handling a %s event failed", handler)

    async def close(self) -> None:
        if self.receiver is not None:
            self.receiver.cancel()
        topics, self.topics = list(self.topics), set()
        await self.hub.leave_topics(self.subscriber, topics)
