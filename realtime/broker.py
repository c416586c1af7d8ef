"""The broker: how a conversation event published once reaches every server process's hub.

Two implementations of one interface, chosen once per process from the settings
(`process_broker`):

- `RedisBroker` (REDIS_URL set): one PUBLISH on the conversation's channel
  `<PARLEY_FANOUT_PREFIX>.conv.<id>`, on the shard `shard_index` picks (REDIS_SHARD_URLS); each
  hub subscribes to the channels of the conversations its sockets are in (realtime/hub.py).
- `MemoryBroker` (the embedded default: one process): a publish hands the event straight to
  every hub attached in this process, on the hub's own event loop.

Publishing is called from sync code after commit; delivery is at-most-once either way (the
database and `seq` are the truth).
"""

import functools
import json
import threading
import weakref
import zlib
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings

from chatsite.redis import shard_clients

if TYPE_CHECKING:
    from .hub import Hub

# (conversation_id, event name, event)
Event = tuple[int, str, dict[str, Any]]


def channel_name(conversation_id: int) -> str:
    return f"{settings.PARLEY_FANOUT_PREFIX}.conv.{int(conversation_id)}"


def encode(handler: str, event: dict[str, Any]) -> str:
    return json.dumps({"handler": handler, "event": event}, separators=(",", ":"))


def shard_index(conversation_id: int, shard_count: int) -> int:
    """The shard of a conversation's channel: the same in every process and after restarts."""
    if shard_count <= 1:
        return 0
    return zlib.crc32(str(int(conversation_id)).encode()) % shard_count


class Broker(Protocol):
    # The Redis URLs a hub subscribes to, by shard (none: events come to it directly).
    shard_urls: list[str]

    def publish_many(self, events: list[Event]) -> None: ...
    def attach(self, hub: "Hub") -> None: ...
    def detach(self, hub: "Hub") -> None: ...


class RedisBroker:
    def __init__(self, shard_urls: list[str]) -> None:
        self.shard_urls = shard_urls

    def publish_many(self, events: list[Event]) -> None:
        """Each event once, in order: one pipelined round trip per Redis shard."""
        clients = shard_clients()
        pipelines: dict[int, Any] = {}
        for conversation_id, handler, event in events:
            index = shard_index(conversation_id, len(clients))
            if index not in pipelines:
                pipelines[index] = clients[index].pipeline(transaction=False)
            pipelines[index].publish(channel_name(conversation_id), encode(handler, event))
        for pipeline in pipelines.values():
            pipeline.execute()

    def attach(self, hub: "Hub") -> None:
        """Hubs subscribe to Redis themselves, channel by channel."""

    def detach(self, hub: "Hub") -> None:
        pass


class MemoryBroker:
    def __init__(self) -> None:
        self.shard_urls: list[str] = []
        self.hubs: weakref.WeakSet[Hub] = weakref.WeakSet()
        self.lock = threading.Lock()

    def publish_many(self, events: list[Event]) -> None:
        encoded = [
            (conversation_id, encode(handler, event)) for conversation_id, handler, event in events
        ]
        with self.lock:
            hubs = list(self.hubs)
        for hub in hubs:
            if not hub.loop.is_closed():
                for conversation_id, text in encoded:
                    hub.loop.call_soon_threadsafe(hub.deliver, conversation_id, text)

    def attach(self, hub: "Hub") -> None:
        with self.lock:
            self.hubs.add(hub)

    def detach(self, hub: "Hub") -> None:
        with self.lock:
            self.hubs.discard(hub)


@functools.cache
def process_broker() -> Broker:
    """This process's broker, built once from the settings (like its Redis clients)."""
    if settings.REDIS_URL:
        return RedisBroker(list(settings.REDIS_SHARD_URLS))
    return MemoryBroker()
