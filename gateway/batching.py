"""Group commit for the gateway's writes: sends, and `delivered` / `read` marks.

Each socket still waits for its own answer before its next frame is read, but the writes of
all sockets of a server process share transactions: while a batch is being stored, the
requests that arrive queue, and the next batch takes all of them (up to its maximum) in one
database hop and one transaction. At most `max_in_flight` batches of a kind run at a time. A
lone request is stored at once, as a batch of one: batching adds no wait, it only forms under
load, where it replaces a commit and several statements and Redis round trips per request by
the same work per batch.

- sends: `message_send_many` (PARLEY_SEND_BATCH_MAX, PARLEY_SEND_BATCHES_IN_FLIGHT); under
  load one commit, one seq statement, one INSERT per table and one publish carry many messages.
- marks: `receipt_mark_many` (PARLEY_MARK_BATCH_MAX, one batch in flight); one locking read,
  one UPDATE and one publish for all the receipts of a batch.

Every request in a batch gets its own result: its answer, or the error it earned. A request
that fails for a reason of its own fails only itself (the batch functions redo or skip it);
only an outage of the whole batch (the database or Redis down) is raised to each requester.
"""

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from core.asyncdb import db_hop

Request = TypeVar("Request")
Result = TypeVar("Result")


class Batcher(Generic[Request, Result]):
    """The batches of one kind of one event loop: the process's runtime holds one per kind
    (gateway/runtime.py). `store_many` stores a batch in one transaction and returns, per
    request and in order, its result or the exception it earned."""

    def __init__(
        self,
        store_many: Callable[[list[Request]], list[Result | Exception]],
        *,
        max_batch: int,
        max_in_flight: int,
        observe: Callable[[int], None] | None = None,
    ) -> None:
        self.store_many = db_hop(store_many)
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self.observe = observe  # told each batch's size (a metric)
        self.waiting: deque[tuple[Request, asyncio.Future[Any]]] = deque()
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def submit(self, request: Request) -> Result:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append((request, future))
        self._start_batches()
        result = await future
        if isinstance(result, Exception):  # the ChatError it earned, or what failed it alone
            raise result
        answer: Result = result
        return answer

    def _start_batches(self) -> None:
        while self.waiting and self.in_flight < self.max_in_flight:
            batch: list[tuple[Request, asyncio.Future[Any]]] = []
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

    async def _run(self, batch: list[tuple[Request, asyncio.Future[Any]]]) -> None:
        if self.observe is not None:
            self.observe(len(batch))
        try:
            results = await self.store_many([request for request, _ in batch])
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
