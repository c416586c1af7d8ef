"""Time-ordered 64-bit message ids (snowflake layout).

    | 41 bits: milliseconds since PARLEY_EPOCH | 10 bits: node | 12 bits: counter |

Ids sort by creation time, so a month of messages is one contiguous id range; the storage
work partitions on that. The node number keeps processes apart; the counter allows 4096 ids per
millisecond per node before waiting for the next millisecond.
"""

import os
import threading
import time
from datetime import UTC, datetime

from django.conf import settings

PARLEY_EPOCH_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
NODE_BITS = 10
COUNTER_BITS = 12
MAX_NODE = (1 << NODE_BITS) - 1
MAX_COUNTER = (1 << COUNTER_BITS) - 1
TIME_SHIFT = NODE_BITS + COUNTER_BITS


class _Generator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0
        self._node: int | None = None

    def _node_id(self) -> int:
        if self._node is None:
            configured = settings.PARLEY_NODE_ID
            # Without a configured node, the process id spreads concurrent processes apart.
            self._node = (configured if configured >= 0 else os.getpid()) & MAX_NODE
        return self._node

    def next_id(self) -> int:
        node = self._node_id()
        with self._lock:
            now_ms = int(time.time() * 1000)
            if now_ms < self._last_ms:
                # The clock stepped back: keep issuing from the last millisecond seen.
                now_ms = self._last_ms
            if now_ms == self._last_ms:
                self._counter += 1
                if self._counter > MAX_COUNTER:
                    while now_ms <= self._last_ms:
                        time.sleep(0.0002)
                        now_ms = int(time.time() * 1000)
                    self._counter = 0
            else:
                self._counter = 0
            self._last_ms = now_ms
            return (
                ((now_ms - PARLEY_EPOCH_MS) << TIME_SHIFT) | (node << COUNTER_BITS) | self._counter
            )


_generator = _Generator()


def next_message_id() -> int:
    return _generator.next_id()


def message_id_floor(moment: datetime) -> int:
    """The smallest id a message created at `moment` can have (partition bounds use this)."""
    return (int(moment.timestamp() * 1000) - PARLEY_EPOCH_MS) << TIME_SHIFT


def message_id_time(message_id: int) -> datetime:
    return datetime.fromtimestamp(((message_id >> TIME_SHIFT) + PARLEY_EPOCH_MS) / 1000, tz=UTC)
