"""Coalescing of receipts in large conversations, at the publisher: at most one receipt per
member and conversation per second leaves the server, whichever process the marks came from.

The first receipt of a member opens a one-second gate and is published at once. Receipts arriving
while the gate is closed are held (only the newest: cursors only rise, so it says everything the
older ones did) and published by a flusher when the gate opens, which closes it again. A receipt
that finds the gate open goes out at once and drops anything held, so nothing older follows it.

PostgreSQL + Redis: gate, held receipt and due time are Redis keys changed by Lua scripts, and
every server process runs a flusher (`flush_forever`, run by the gateway runtime); a held receipt is
popped by exactly one of them. Embedded default: the same in memory.
"""

import asyncio
import json
import logging
import threading
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.apps import apps

import realtime
from chatsite.redis import redis_client

from .events import ReceiptEvent

logger = logging.getLogger(__name__)

WINDOW = 1.0
FLUSH_EVERY = 0.1
PREFIX = "parley:receipts:"
DUE = PREFIX + "due"  # zset "<conversation>:<user>" -> when its gate opens (epoch ms)

_OFFER = """
local gate, held, due = KEYS[1], KEYS[2], KEYS[3]
local member, payload, now_ms, window_ms = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if redis.call('SET', gate, 1, 'NX', 'PX', window_ms) then
  redis.call('DEL', held)
  redis.call('ZREM', due, member)
  return 1
end
redis.call('SET', held, payload, 'PX', 60000)
local ttl = redis.call('PTTL', gate)
if ttl < 0 then ttl = 0 end
redis.call('ZADD', due, 'NX', now_ms + ttl, member)
return 0
"""

_POP_DUE = """
local due, prefix = KEYS[1], ARGV[1]
local now_ms, limit, window_ms = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local out = {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now_ms, 'LIMIT', 0, limit)) do
  redis.call('ZREM', due, member)
  local payload = redis.call('GET', prefix .. 'held:' .. member)
  if payload then
    redis.call('DEL', prefix .. 'held:' .. member)
    redis.call('SET', prefix .. 'gate:' .. member, 1, 'PX', window_ms)
    table.insert(out, payload)
  end
end
return out
"""


class MemoryGates:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.gates: dict[str, float] = {}  # member -> when the gate opens
        self.held: dict[str, ReceiptEvent] = {}

    def offer(self, member: str, event: ReceiptEvent) -> bool:
        now = time.time()
        with self.lock:
            if self.gates.get(member, 0.0) <= now:
                self.gates[member] = now + WINDOW
                self.held.pop(member, None)
                return True
            self.held[member] = event
            return False

    def pop_due(self, limit: int) -> list[ReceiptEvent]:
        now = time.time()
        out: list[ReceiptEvent] = []
        with self.lock:
            for member in [m for m in self.held if self.gates.get(m, 0.0) <= now][:limit]:
                out.append(self.held.pop(member))
                self.gates[member] = now + WINDOW
            if len(self.gates) > 10_000:
                self.gates = {m: t for m, t in self.gates.items() if t > now or m in self.held}
        return out

    def clear(self) -> None:
        with self.lock:
            self.gates.clear()
            self.held.clear()


def memory_gates() -> MemoryGates:
    """The embedded default's gates, built once at start-up (ReceiptsConfig.ready)."""
    gates: MemoryGates = apps.get_app_config("receipts").memory_gates  # type: ignore[attr-defined]
    return gates


def _redis_scripts(client) -> tuple[Any, Any]:  # type: ignore[no-untyped-def]
    """The scripts on this client. Registering is local (a SHA-1 of the text, no round trip):
    cheaper than a registry of clients to keep valid."""
    return client.register_script(_OFFER), client.register_script(_POP_DUE)


def publish_receipts(events: list[tuple[ReceiptEvent, bool]]) -> None:
    """Publishes (receipt, coalesce) pairs to their conversations, in one trip: each at once,
    or held for the flusher when `coalesce` and its member's gate is closed. Runs after commit
    (sync)."""
    now = [dict(event) for event, coalesce in events if not coalesce or _offer(event)]
    realtime.publish_to_conversations("receipt", [(event["conversation"], event) for event in now])


def _offer(event: ReceiptEvent) -> bool:
    member = f"{event['conversation']}:{event['user']}"
    client = redis_client()
    if client is None:
        return memory_gates().offer(member, event)
    offer, _ = _redis_scripts(client)
    keys = [f"{PREFIX}gate:{member}", f"{PREFIX}held:{member}", DUE]
    args = [member, json.dumps(event), int(time.time() * 1000), int(WINDOW * 1000)]
    return bool(offer(keys=keys, args=args))


def pop_due(limit: int = 500) -> list[ReceiptEvent]:
    """Held receipts whose gate has opened, each handed out once (closing its gate again)."""
    client = redis_client()
    if client is None:
        return memory_gates().pop_due(limit)
    _, pop = _redis_scripts(client)
    args = [PREFIX, int(time.time() * 1000), limit, int(WINDOW * 1000)]
    return [json.loads(payload) for payload in pop(keys=[DUE], args=args)]


def flush_due() -> int:
    """Publishes the held receipts whose gate opened; how many."""
    due = pop_due()
    for event in due:
        realtime.publish_to_conversation(event["conversation"], event["type"], dict(event))
    return len(due)


async def flush_forever() -> None:
    """This process's flusher: the runtime runs it while the process serves sockets."""
    while True:
        await asyncio.sleep(FLUSH_EVERY)
        try:
            await sync_to_async(flush_due, thread_sensitive=False)()
        except Exception:
            logger.exception("flushing held receipts failed")
