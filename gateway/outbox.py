"""The outbox: everything written to one socket goes through it, in one order.

Replies (acks, sync pages, errors) and live frames (fan-out, per-user events) alike are queued
here and written by one writer, so a socket sees them in the order they were put, and the
consumer has one route to its transport. Frames wait while the outbox is closed (until `ready`
is written). A socket whose outbox grows past `limit` cannot keep up and is closed with 1013
(core.close_codes.TOO_SLOW), so its client reconnects and syncs instead of silently missing
messages.

The outbox is written eagerly: a frame for an idle socket goes to the ASGI server at once, in
the caller's stack (the hub's delivery loop), already encoded; only a write that has to wait
(the client does not read, the transport pushes back) continues in a task, and frames put
meanwhile queue behind it. A group fan-out thus costs one transport write per socket, not a
task wake-up, a JSON encoding and a session check per socket.
"""

import asyncio
import contextvars
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from autobahn.exception import Disconnected

from chatsite import metrics

from .eager import run_eagerly

logger = logging.getLogger(__name__)


class Reply(str):
    """An encoded answer to the client's own frame (ack, error, sync page). Replies do not
    count toward the limit of live frames, and the consumer reads the client's next frame
    only once its replies are written (`answered`): a client that stops reading stops being
    served, as when channels' `send_json` was awaited."""

    __slots__ = ()


# An encoded frame, or a step to run in its place in the order (a close, a hub leave).
OutboxItem = str | Callable[[], Awaitable[None]]
Transport = Callable[[dict[str, Any]], Awaitable[None]]


class Outbox:
    def __init__(
        self,
        *,
        transport: Transport,
        limit: int,
        on_overflow: Callable[[], Awaitable[None]],
        context: contextvars.Context,
    ) -> None:
        self.transport = transport
        self.limit = limit
        self.on_overflow = on_overflow
        # Writes run in the socket's own context (its log bindings), whoever puts the frame.
        self.context = context
        self.items: deque[OutboxItem] = deque()
        self.is_open = False
        self.draining = False
        # The task carrying on a write that had to wait (None while writes complete at once).
        self.writer: asyncio.Task[Any] | None = None
        self.overflowed = False
        # Replies put and not yet written; `written` is set while there are none.
        self.replies = 0
        self.written = asyncio.Event()
        self.written.set()

    def put(self, frame: dict[str, Any]) -> None:
        """A live frame (an event, not an answer)."""
        self.put_many([json.dumps(frame)])

    def reply(self, frame: dict[str, Any]) -> None:
        """An answer to the client's frame, in order with everything else."""
        if self.overflowed:
            return
        self.replies += 1
        self.written.clear()
        self.items.append(Reply(json.dumps(frame)))
        self._drain()

    async def answered(self) -> None:
        """Returns once every reply put so far is written (or the socket is gone)."""
        if self.replies:
            await self.written.wait()

    def _replies_dropped(self) -> None:
        self.replies = 0
        self.written.set()

    def put_many(self, items: list[OutboxItem]) -> None:
        if not items or self.overflowed:
            return
        self.items.extend(items)
        if len(self.items) - self.replies > self.limit:
            logger.warning("a socket cannot keep up; closing it")
            metrics.slow_socket_closed()
            self.overflowed = True
            self.items.clear()
            self._replies_dropped()
            self.items.append(self.on_overflow)
        self._drain()

    def open(self) -> None:
        """Frames put so far (`ready` first) and from now on are written."""
        self.is_open = True
        self._drain()

    def stop(self) -> None:
        """The socket is gone: nothing more is written."""
        self.is_open = False
        self.items.clear()
        self._replies_dropped()
        if self.writer is not None:
            self.writer.cancel()

    def _drain(self) -> None:
        """Starts writing, unless a write is under way (it writes the rest)."""
        if self.draining or not self.is_open or not self.items:
            return
        self.draining = True
        try:
            self.writer = run_eagerly(self._write(), context=self.context)
        except BaseException:
            self.draining = False
            raise

    async def _write(self) -> None:
        try:
            while self.items:
                item = self.items.popleft()
                try:
                    if type(item) is str:
                        await self.transport({"type": "websocket.send", "text": item})
                    elif isinstance(item, Reply):
                        try:
                            await self.transport({"type": "websocket.send", "text": str(item)})
                        finally:
                            if self.replies:
                                self.replies -= 1
                                if not self.replies:
                                    self.written.set()
                    elif isinstance(item, str):
                        await self.transport({"type": "websocket.send", "text": item})
                    else:
                        await item()
                except asyncio.CancelledError:
                    raise
                except Disconnected:
                    # daphne: the client's close beat the frame; its disconnect follows.
                    logger.info("frame for a closed socket dropped")
                except Exception:
                    logger.exception("writing to a socket failed")
        finally:
            self.draining = False
            self.writer = None
