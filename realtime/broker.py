"""The broker: how an event published once reaches every server process's hub.

It carries two kinds of channels alike: a conversation's (`conv.<id>`: messages, changes,
receipts, typing, leaves) and the user-side ones, named by a topic (`user.<id>`: a user's
sockets; `session.<id>`: one login session's; `gateway.addresses`: every socket, for blacklist
entries). Two implementations of one interface, chosen once per process from the settings
(`broker_from_settings`, at start-up: `RealtimeConfig.ready`; `process_broker` is that one):

- `RedisBroker` (REDIS_URL set): one PUBLISH on the channel `<PARLEY_FANOUT_PREFIX>.conv.<id>`
  (or `<PARLEY_FANOUT_PREFIX>.<topic>`), on the shard `shard_index` (`topic_shard_index`) picks
  (REDIS_SHARD_URLS); each hub subscribes to the channels of the conversations, users and
  sessions its sockets hold (realtime/hub.py).
- `MemoryBroker` (the embedded default: one process): a publish hands the event straight to
  every hub attached in this process, on the hub's own event loop.

Publishing is called from sync code after commit; delivery is at-most-once either way (the
database and `seq` are the truth).
"""

import json
import threading
import weakref
import zlib
from typing import TYPE_CHECKING, Any, Protocol

from django.apps import apps
from django.conf import settings

from chatsite.redis import shard_clients

if TYPE_CHECKING:
    from .hub import Hub

# (conversation_id, event name, event)
Event = tuple[int, str, dict[str, Any]]
# (topic, event name, event): a user-side channel ("user.42", "session.ab12", ...)
TopicEvent = tuple[str, str, dict[str, Any]]


def channel_name(conversation_id: int) -> str:
    return f"{settings.PARLEY_FANOUT_PREFIX}.conv.{int(conversation_id)}"


def topic_channel_name(topic: str) -> str:
    return f"{settings.PARLEY_FANOUT_PREFIX}.{topic}"


def encode(handler: str, event: dict[str, Any]) -> str:
    return json.dumps({"handler": handler, "event": event}, separators=(",", ":"))


def shard_index(conversation_id: int, shard_count: int) -> int:
    """The shard of a conversation's channel: the same in every process and after restarts."""
    if shard_count <= 1:
        return 0
    return zlib.crc32(str(int(conversation_id)).encode()) % shard_count


def topic_shard_index(topic: str, shard_count: int) -> int:
    """The shard of a user-side channel: the same in every process and after restarts."""
    if shard_count <= 1:
        return 0
    return zlib.crc32(topic.encode()) % shard_count


class Broker(Protocol):
    # The Redis URLs a hub subscribes to, by shard (none: events come to it directly).
    shard_urls: list[str]

    def publish_many(self, events: list[Event]) -> None: ...
    def publish_to_topics(self, events: list[TopicEvent]) -> None: ...
    def attach(self, hub: "Hub") -> None: ...
    def detach(self, hub: "Hub") -> None: ...


class RedisBroker:
    def __init__(self, shard_urls: list[str]) -> None:
        self.shard_urls = shard_urls

    def publish_many(self, events: list[Event]) -> None:
        clients = shard_clients()
        self._publish(
            clients,
            [
                (shard_index(c, len(clients)), channel_name(c), encode(handler, event))
                for c, handler, event in events
            ],
        )

    def publish_to_topics(self, events: list[TopicEvent]) -> None:
        clients = shard_clients()
        # One event told to thousands of users (a first announcement's `conversation`) is
        # the same object for each: encoded once.
        texts: dict[tuple[str, int], str] = {}
        messages = []
        for topic, handler, event in events:
            key = (handler, id(event))
            if key not in texts:
                texts[key] = encode(handler, event)
            messages.append(
                (topic_shard_index(topic, len(clients)), topic_channel_name(topic), texts[key])
            )
        self._publish(clients, messages)

    @staticmethod
    def _publish(clients: tuple[Any, ...], messages: list[tuple[int, str, str]]) -> None:
        """Each (shard, channel, text) once, in order: one pipelined round trip per shard."""
        pipelines: dict[int, Any] = {}
        for index, channel, text in messages:
            if index not in pipelines:
                pipelines[index] = clients[index].pipeline(transaction=False)
            pipelines[index].publish(channel, text)
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

    def publish_to_topics(self, events: list[TopicEvent]) -> None:
        encoded = [(topic, encode(handler, event)) for topic, handler, event in events]
        with self.lock:
            hubs = list(self.hubs)
        for hub in hubs:
            if not hub.loop.is_closed():
                for topic, text in encoded:
                    hub.loop.call_soon_threadsafe(hub.deliver_to_topic, topic, text)

    def attach(self, hub: "Hub") -> None:
        with self.lock:
            self.hubs.add(hub)

    def detach(self, hub: "Hub") -> None:
        with self.lock:
            self.hubs.discard(hub)


def broker_from_settings() -> Broker:
    """A broker as the settings ask: Redis when REDIS_URL is set, else in memory."""
    if settings.REDIS_URL:
        return RedisBroker(list(settings.REDIS_SHARD_URLS))
    return MemoryBroker()


def process_broker() -> Broker:
    """This process's broker, built once at start-up (`RealtimeConfig.ready`): services publish
    through it, the ASGI runtime (gateway/runtime.py) attaches its hubs to it."""
    broker: Broker = apps.get_app_config("realtime").broker  # type: ignore[attr-defined]
    return broker
