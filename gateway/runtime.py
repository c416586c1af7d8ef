"""The gateway's runtime: the long-lived objects of one server process, built once at start-up
(chatsite/asgi.py) and handed to every socket, instead of module-level registries.

- `broker`: the process's (realtime/broker.py, built at start-up by `RealtimeConfig.ready`)
- `hub`: the process's sockets by conversation and user (realtime/hub.py), attached to the broker
- `batcher`: the group commit of every socket's sends (gateway/batching.py)
- `marks`: the same for every socket's `delivered` and `read` frames
- `history`: the sockets' gap fills, batched so that a herd joining one conversation reads it
  once (messaging.selectors.message_history_after_many)
- `address_watch`: closes sockets whose address a changed blacklist covers
- the receipts flusher (receipts/coalescing.py), while sockets are served

They live on the event loop that serves the sockets. A server process has one; the test suite
runs each test on a loop of its own, so the runtime follows the running loop: on a new one it
drops the old loop's objects and builds new ones (`here`).
"""

import asyncio
import contextlib

from django.conf import settings

from chatsite import metrics
from messaging.events import AckEvent, MessageEvent
from messaging.selectors import HistoryAfter, message_history_after_many
from messaging.services import SendRequest, message_send_many
from realtime.broker import Broker
from realtime.hub import Hub
from receipts.coalescing import flush_forever
from receipts.events import ReceiptEvent
from receipts.services import MarkRequest, receipt_mark_many

from .batching import Batcher
from .protection import AddressWatch

# Gap fills read in one database hop at most (several members reading the same conversation
# from the same seq cost one page read).
HISTORY_BATCH_MAX = 1000


class LoopRuntime:
    """The objects of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, broker: Broker) -> None:
        self.loop = loop
        self.hub = Hub(loop, broker)
        self.batcher: Batcher[SendRequest, AckEvent] = Batcher(
            message_send_many,
            max_batch=settings.PARLEY_SEND_BATCH_MAX,
            max_in_flight=settings.PARLEY_SEND_BATCHES_IN_FLIGHT,
            observe=metrics.send_batch_stored,
        )
        self.marks: Batcher[MarkRequest, ReceiptEvent] = Batcher(
            receipt_mark_many, max_batch=settings.PARLEY_MARK_BATCH_MAX, max_in_flight=1
        )
        self.history: Batcher[HistoryAfter, tuple[list[MessageEvent], bool]] = Batcher(
            message_history_after_many, max_batch=HISTORY_BATCH_MAX, max_in_flight=1
        )
        self.address_watch = AddressWatch()
        self.receipts_flusher: asyncio.Task[None] | None = None
        self.hub.start()

    def sockets_served(self) -> None:
        """A socket is up: this process publishes held receipts of large conversations."""
        if self.receipts_flusher is None or self.receipts_flusher.done():
            self.receipts_flusher = self.loop.create_task(flush_forever())

    def stop(self) -> None:
        self.hub.stop()
        if self.receipts_flusher is not None and not self.loop.is_closed():
            self.receipts_flusher.cancel()


class Runtime:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker  # the process's (realtime.broker.process_broker)
        self.current: LoopRuntime | None = None

    def here(self) -> LoopRuntime:
        """The objects of the running event loop (built on the first socket)."""
        loop = asyncio.get_running_loop()
        current = self.current
        if current is None or current.loop is not loop:
            if current is not None:
                with contextlib.suppress(Exception):
                    current.stop()
            current = self.current = LoopRuntime(loop, self.broker)
        return current
