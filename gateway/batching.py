"""Group commit for the gateway's sends.

Each socket still waits for its own ack before its next frame is read, but the sends of all
sockets of a server process share transactions: while a batch is being stored, the sends that
arrive queue, and the next batch takes all of them (up to PARLEY_SEND_BATCH_MAX) in one
database hop and one transaction (`message_send_many`). At most PARLEY_SEND_BATCHES_IN_FLIGHT
batches run at a time. A lone send is stored at once, as a batch of one: batching adds no
wait, it only forms under load, where it replaces a commit, a seq statement, two INSERTs and
several Redis round trips per message by the same work per batch.

Every send in a batch gets its own result: its ack, or the error it earned. A send that fails
for a reason of its own (text the database refuses, any error that is not an outage) fails only
itself: message_send_many then redoes the batch send by send. Only an outage of the whole batch
(the database or Redis down) is raised to each of its senders.
"""

import asyncio
from collections import deque
from typing import Any

from chatsite import metrics
from core.asyncdb import db_hop
from messaging.events import AckEvent
from messaging.services import SendRequest, message_send_many


class SendBatcher:
    """The batches of one event loop: the process's runtime holds one (gateway/runtime.py)."""

    def __init__(self, *, max_batch: int, max_in_flight: int) -> None:
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self.waiting: deque[tuple[SendRequest, asyncio.Future[Any]]] = deque()
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def send(self, request: SendRequest) -> AckEvent:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append((request, future))
        self._start_batches()
        result = await future
        if isinstance(result, Exception):  # the ChatError it earned, or what failed it alone
            raise result
        ack: AckEvent = result
        return ack

    def _start_batches(self) -> None:
        while self.waiting and self.in_flight < self.max_in_flight:
            batch: list[tuple[SendRequest, asyncio.Future[Any]]] = []
            while self.waiting and len(batch) < self.max_batch:
                request, future = self.waiting.popleft()
                if not future.done():  # its socket went away while it waited
                    batch.append((request, future))
            if not batch:
                return
            self.in_flight += 1
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _run(self, batch: list[tuple[SendRequest, asyncio.Future[Any]]]) -> None:
        metrics.send_batch_stored(size=len(batch))
        try:
            results = await db_hop(message_send_many)([request for request, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self.in_flight -= 1
            self._start_batches()
