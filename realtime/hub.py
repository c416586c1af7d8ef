"""Fan-out: each event is published once and handed to local sockets directly.

A service publishes a conversation event once: with Redis, one PUBLISH on the channel
`<PARLEY_FANOUT_PREFIX>.conv.<id>`; on the embedded default, straight into this process. Every
server process that has a socket in that conversation is subscribed to its channel, receives
the event once, decodes it once, and hands the same frame text to each of its local sockets
from a process-local registry. The cost per message is one publish plus one receive per
process, instead of one channel-layer message per recipient.

Per-user events travel the same way on the user-side channels (`<prefix>.user.<id>`,
`<prefix>.session.<id>`, `<prefix>.gateway.addresses`): a socket holds its user's, its
session's and the address channel (`join_topics`) and gets their events through `user_event`.

With several Redis instances (REDIS_SHARD_URLS) a conversation's channel lives on the shard
`shard_index` picks from a stable hash of its id: the service publishes there, and each process
holds one pub/sub connection per shard it needs.

Pub/sub is at-most-once, like the channel layer: when a shard's subscription breaks (the hub
sees the error, or redis-py reconnects it by itself), the hub resubscribes and tells every local
socket of that shard's conversations to re-read them from the database (`fanout_reset`), so the
gap heals without the client noticing. When the Redis behind the subscription is not the one it
subscribed to (its run_id changed: a restart or a failover), what the sockets keep in it
(presence entries, held receipts, rate limits) is gone too, which no database read repairs:
the hub then closes every socket of this process with 1012 (`realtime_lost`), and clients
reconnect and sync. Per-user events published during a short break to the same server are
lost (at-most-once, as on the channel layer), so the sockets holding user-side channels of
that shard check their user again (`user_reset`): a ban or a revocation missed closes the
socket as the event would have, a conversation joined meanwhile is joined now; a removal heals
through the gap read (the socket is no longer a member).
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

import redis.asyncio as aioredis
from django.conf import settings

from chatsite import metrics
from chatsite.redis_url import async_client

from .broker import (
    Broker,
    TopicEvent,
    channel_name,
    process_broker,
    shard_index,
    topic_channel_name,
    topic_shard_index,
)

logger = logging.getLogger(__name__)

RESUBSCRIBE_BACKOFF = (0.1, 0.5, 1.0, 2.0, 5.0)


class Subscriber(Protocol):
    def fanout_event(self, handler: str, event: dict[str, Any], text: str) -> None: ...
    def user_event(self, handler: str, event: dict[str, Any]) -> None: ...
    def fanout_reset(self, conversation_ids: Iterable[int]) -> None: ...
    def user_reset(self) -> None: ...
    def realtime_lost(self, reason: str) -> None: ...


class ReportingPubSub(aioredis.client.PubSub):
    """A pub/sub that reports the reconnects redis-py makes by itself: its retry resubscribes
    silently, and whatever was published in between is lost."""

    def __init__(self, *args: Any, on_reconnect: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connects = 0
        self.on_reconnect = on_reconnect

    async def on_connect(self, connection: Any) -> None:
        await super().on_connect(connection)
        self.connects += 1
        if self.connects > 1:
            self.on_reconnect()


class Subscription:
    """One pub/sub connection to one Redis shard, and the task that reads it."""

    def __init__(self, index: int, url: str) -> None:
        self.index = index
        self.url = url
        self.redis: aioredis.Redis | None = None
        self.pubsub: aioredis.client.PubSub | None = None
        self.reader: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()
        # The run_id of the Redis server subscribed to: a new one means a restarted server.
        self.run_id: str | None = None
        self.recovery: asyncio.Task[None] | None = None

    @property
    def subscribed(self) -> bool:
        return self.pubsub is not None and bool(self.pubsub.subscribed)


K = TypeVar("K", int, str)  # a conversation id or a user-side topic


def _hold(registry: dict[K, set[Subscriber]], subscriber: Subscriber, keys: Iterable[K]) -> list[K]:
    """Adds the subscriber under each key; the keys nobody held before (to subscribe to)."""
    new = []
    for key in keys:
        members = registry.setdefault(key, set())
        if not members:
            new.append(key)
        members.add(subscriber)
    return new


def _release(
    registry: dict[K, set[Subscriber]], subscriber: Subscriber, keys: Iterable[K]
) -> list[K]:
    """Removes the subscriber under each key; the keys nobody holds any more (to unsubscribe)."""
    gone = []
    for key in keys:
        members = registry.get(key)
        if not members:
            continue
        members.discard(subscriber)
        if not members:
            del registry[key]
            gone.append(key)
    return gone


class Hub:
    """One event loop's sockets by conversation, and its Redis subscriptions (one per shard of
    a Redis broker; none with the in-memory broker, which hands events over directly). The
    process's runtime builds one (gateway/runtime.py)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, broker: Broker) -> None:
        self.loop = loop
        self.broker = broker
        self.local: dict[int, set[Subscriber]] = {}
        # The user-side channels ("user.42", "session.ab12", "gateway.addresses") by topic.
        self.topics: dict[str, set[Subscriber]] = {}
        self.shard_urls: list[str] = list(broker.shard_urls)
        self.subscriptions: dict[int, Subscription] = {}
        # Every socket of this loop, with or without conversations.
        self.sockets: set[Subscriber] = set()

    def shard_of(self, conversation_id: int) -> int:
        return shard_index(conversation_id, len(self.shard_urls))

    def topic_shard_of(self, topic: str) -> int:
        return topic_shard_index(topic, len(self.shard_urls))

    def _by_shard(self, conversation_ids: Iterable[int]) -> dict[int, list[str]]:
        shards: dict[int, list[str]] = {}
        for conversation_id in conversation_ids:
            shards.setdefault(self.shard_of(conversation_id), []).append(
                channel_name(conversation_id)
            )
        return shards

    def _topics_by_shard(self, topics: Iterable[str]) -> dict[int, list[str]]:
        shards: dict[int, list[str]] = {}
        for topic in topics:
            shards.setdefault(self.topic_shard_of(topic), []).append(topic_channel_name(topic))
        return shards

    def _held_channels(self, index: int) -> list[str]:
        """Every channel of shard `index` this hub's sockets hold."""
        return [channel_name(c) for c in self.local if self.shard_of(c) == index] + [
            topic_channel_name(t) for t in self.topics if self.topic_shard_of(t) == index
        ]

    # --- registry ----------------------------------------------------------------------

    async def join(self, subscriber: Subscriber, conversation_ids: Iterable[int]) -> None:
        self.sockets.add(subscriber)
        new = _hold(self.local, subscriber, conversation_ids)
        if new and self.shard_urls:
            await self._subscribe(self._by_shard(new))

    async def join_topics(self, subscriber: Subscriber, topics: Iterable[str]) -> None:
        """The socket receives the events of these user-side channels (its user's, its
        session's, the address watch's) through `user_event`."""
        self.sockets.add(subscriber)
        new = _hold(self.topics, subscriber, topics)
        if new and self.shard_urls:
            await self._subscribe(self._topics_by_shard(new))

    async def _subscribe(self, channels_by_shard: dict[int, list[str]]) -> None:
        for index, channels in channels_by_shard.items():
            subscription = self._subscription(index)
            async with subscription.lock:
                pubsub = await self._ensure_pubsub(subscription)
                await pubsub.subscribe(*channels)

    async def leave(self, subscriber: Subscriber, conversation_ids: Iterable[int]) -> None:
        await self._unsubscribe(self._by_shard(_release(self.local, subscriber, conversation_ids)))

    async def leave_topics(self, subscriber: Subscriber, topics: Iterable[str]) -> None:
        await self._unsubscribe(self._topics_by_shard(_release(self.topics, subscriber, topics)))

    async def _unsubscribe(self, channels_by_shard: dict[int, list[str]]) -> None:
        for index, channels in channels_by_shard.items():
            subscription = self.subscriptions.get(index)
            if subscription is None or subscription.pubsub is None:
                continue
            # On a broken connection the resubscribe covers only channels still held.
            async with subscription.lock:
                with contextlib.suppress(aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                    if subscription.pubsub is not None:
                        await subscription.pubsub.unsubscribe(*channels)

    def detach(self, subscriber: Subscriber) -> None:
        """The socket is gone: after `leave` for its conversations."""
        self.sockets.discard(subscriber)

    def start(self) -> None:
        self.broker.attach(self)

    def stop(self) -> None:
        """The runtime is done with this hub: no more deliveries, no more reading."""
        self.broker.detach(self)
        if self.loop.is_closed():
            return
        for subscription in self.subscriptions.values():
            for task in (subscription.reader, subscription.recovery):
                if task is not None:
                    task.cancel()

    # --- delivery ----------------------------------------------------------------------

    def deliver(self, conversation_id: int, text: str) -> None:
        """One published event: decoded once, offered to every local socket of the conversation."""
        members = self.local.get(conversation_id)
        if not members:
            return
        envelope = json.loads(text)
        handler, event = envelope["handler"], envelope["event"]
        # The frame sent to clients for a message is the event itself: encode it once.
        frame_text = json.dumps(event) if handler == "message" else ""
        for subscriber in list(members):
            try:
                subscriber.fanout_event(handler, event, frame_text)
            except Exception:
                logger.exception("fan-out to a socket failed")

    def deliver_to_topic(self, topic: str, text: str) -> None:
        """One published user-side event: decoded once, handed to every local socket holding
        the topic, in the order published."""
        members = self.topics.get(topic)
        if not members:
            return
        envelope = json.loads(text)
        handler, event = envelope["handler"], envelope["event"]
        for subscriber in list(members):
            try:
                subscriber.user_event(handler, event)
            except Exception:
                logger.exception("a user event to a socket failed")

    # --- Redis subscriptions -------------------------------------------------------------

    def _subscription(self, index: int) -> Subscription:
        subscription = self.subscriptions.get(index)
        if subscription is None:
            subscription = self.subscriptions[index] = Subscription(index, self.shard_urls[index])
        return subscription

    def _new_pubsub(
        self, subscription: Subscription, redis: aioredis.Redis
    ) -> aioredis.client.PubSub:
        return ReportingPubSub(
            connection_pool=redis.connection_pool,
            event_dispatcher=redis._event_dispatcher,
            ignore_subscribe_messages=True,
            on_reconnect=lambda: self._recover_soon(subscription),
        )

    async def _ensure_pubsub(self, subscription: Subscription) -> aioredis.client.PubSub:
        if subscription.pubsub is None:
            if subscription.redis is None:
                subscription.redis = async_client(
                    subscription.url,
                    health_check_interval=30,
                    # See REALTIME_REDIS_OPTIONS: with a socket timeout, a cancellation can be lost.
                    **{
                        key: value
                        for key, value in settings.REALTIME_REDIS_OPTIONS.items()
                        if key != "max_connections"
                    },
                )
            if subscription.run_id is None:
                subscription.run_id = await self._run_id(subscription)
            subscription.pubsub = self._new_pubsub(subscription, subscription.redis)
        if subscription.reader is None:
            subscription.reader = self.loop.create_task(self._read(subscription))
        return subscription.pubsub

    async def _read(self, subscription: Subscription) -> None:
        topic_prefix = f"{settings.PARLEY_FANOUT_PREFIX}.".encode()
        conversation_prefix = topic_prefix + b"conv."
        while True:
            pubsub = subscription.pubsub
            try:
                if pubsub is None or not pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await pubsub.get_message(timeout=1.0)
                if message is None or message["type"] != "message":
                    continue
                channel: bytes = message["channel"]
                if channel.startswith(conversation_prefix):
                    self.deliver(int(channel[len(conversation_prefix) :]), message["data"].decode())
                else:
                    self.deliver_to_topic(
                        channel[len(topic_prefix) :].decode(), message["data"].decode()
                    )
            except asyncio.CancelledError:
                raise
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                logger.warning(
                    "fan-out subscription to shard %s lost; resubscribing", subscription.index
                )
                await self._resubscribe(subscription)
                await self._recover(subscription)
            except Exception:
                logger.exception("fan-out reader failed on a message")

    async def _resubscribe(self, subscription: Subscription) -> None:
        """A new subscription for every conversation of this shard still held; then those
        sockets heal from the database."""
        for attempt in range(1_000_000):
            await asyncio.sleep(RESUBSCRIBE_BACKOFF[min(attempt, len(RESUBSCRIBE_BACKOFF) - 1)])
            async with subscription.lock:
                old, subscription.pubsub = subscription.pubsub, None
                if old is not None:
                    with contextlib.suppress(Exception):  # it is already broken
                        await old.aclose()  # type: ignore[no-untyped-call]
                if subscription.redis is None:
                    return
                pubsub = self._new_pubsub(subscription, subscription.redis)
                try:
                    channels = self._held_channels(subscription.index)
                    if channels:
                        await pubsub.subscribe(*channels)
                except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                    continue
                subscription.pubsub = pubsub
            break

    def _recover_soon(self, subscription: Subscription) -> None:
        """redis-py reconnected the pub/sub itself (called from inside its read)."""
        if subscription.recovery is None or subscription.recovery.done():
            subscription.recovery = self.loop.create_task(self._recover(subscription))

    async def _run_id(self, subscription: Subscription) -> str | None:
        if subscription.redis is None:
            return None
        try:
            info = await subscription.redis.info("server")
        except (aioredis.RedisError, OSError):
            return None
        return str(info.get("run_id") or "") or None

    async def _recover(self, subscription: Subscription) -> None:
        """After a broken subscription: the same Redis server means only what was published in
        between is lost (sockets re-read it); another one (restart, failover) means what the
        sockets keep in Redis may be gone too (sockets close with 1012)."""
        metrics.fanout_resubscribed()
        if subscription.redis is None:
            return
        run_id = await self._run_id(subscription)
        if run_id is None or run_id != subscription.run_id:
            subscription.run_id = run_id
            logger.warning(
                "Redis shard %s was restarted or replaced; closing this process's %s sockets",
                subscription.index,
                len(self.sockets),
            )
            for socket in list(self.sockets):
                socket.realtime_lost("redis_restarted")
            return
        held: dict[Subscriber, list[int]] = {}
        for conversation_id, members in self.local.items():
            if self.shard_of(conversation_id) != subscription.index:
                continue
            for subscriber in members:
                held.setdefault(subscriber, []).append(conversation_id)
        for subscriber, conversation_ids in held.items():
            subscriber.fanout_reset(conversation_ids)
        missed_user_events: set[Subscriber] = set()
        for topic, members in self.topics.items():
            if self.topic_shard_of(topic) == subscription.index:
                missed_user_events.update(members)
        for subscriber in missed_user_events:
            subscriber.user_reset()


def publish(conversation_id: int, handler: str, event: dict[str, Any]) -> None:
    """Publishes a conversation event once (called from sync code, after commit)."""
    publish_many([(conversation_id, handler, event)])


def publish_many(events: list[tuple[int, str, dict[str, Any]]]) -> None:
    """Publishes (conversation_id, handler, event) each once, in order, through this process's
    broker (called from sync code, after commit)."""
    process_broker().publish_many(events)


def publish_to_topics(events: list[TopicEvent]) -> None:
    """Publishes (topic, handler, event) each once, in order, on the user-side channels
    (called from sync code, after commit)."""
    process_broker().publish_to_topics(events)
