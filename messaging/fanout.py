"""Conversation fan-out: each message is published once and handed to local sockets directly.

A service publishes a conversation event once: with Redis, one PUBLISH on the channel
`<PARLEY_FANOUT_PREFIX>.conv.<id>`; on the embedded default, straight into this process. Every
server process that has a socket in that conversation is subscribed to its channel, receives
the event once, decodes it once, and hands the same frame text to each of its local sockets
from a process-local registry. The cost per message is one publish plus one receive per
process, instead of one channel-layer message per recipient.

Pub/sub is at-most-once, like the channel layer: when the subscription breaks, the hub
resubscribes and tells every local socket to re-read its conversations from the database
(`fanout_reset`), so the gap heals without the client noticing.
"""

import asyncio
import contextlib
import json
import logging
import threading
import weakref
from collections.abc import Iterable
from typing import Any, Protocol

import redis.asyncio as aioredis
from django.conf import settings

from chatsite import metrics
from chatsite.redis import redis_client

logger = logging.getLogger(__name__)

RESUBSCRIBE_BACKOFF = (0.1, 0.5, 1.0, 2.0, 5.0)


class Subscriber(Protocol):
    def fanout_event(self, handler: str, event: dict[str, Any], text: str) -> None: ...
    def fanout_reset(self, conversation_ids: Iterable[int]) -> None: ...


def channel_name(conversation_id: int) -> str:
    return f"{settings.PARLEY_FANOUT_PREFIX}.conv.{int(conversation_id)}"


def encode(handler: str, event: dict[str, Any]) -> str:
    return json.dumps({"handler": handler, "event": event}, separators=(",", ":"))


class Hub:
    """This event loop's registry of sockets by conversation, and its Redis subscription."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.local: dict[int, set[Subscriber]] = {}
        self._pubsub: aioredis.client.PubSub | None = None
        self._redis: aioredis.Redis | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    # --- registry ----------------------------------------------------------------------

    async def join(self, subscriber: Subscriber, conversation_ids: Iterable[int]) -> None:
        new_channels = []
        for conversation_id in conversation_ids:
            members = self.local.setdefault(conversation_id, set())
            if not members:
                new_channels.append(channel_name(conversation_id))
            members.add(subscriber)
        if new_channels and settings.REDIS_URL:
            async with self._lock:
                pubsub = await self._ensure_pubsub()
                await pubsub.subscribe(*new_channels)

    async def leave(self, subscriber: Subscriber, conversation_ids: Iterable[int]) -> None:
        gone = []
        for conversation_id in conversation_ids:
            members = self.local.get(conversation_id)
            if not members:
                continue
            members.discard(subscriber)
            if not members:
                del self.local[conversation_id]
                gone.append(channel_name(conversation_id))
        if gone and self._pubsub is not None:
            # On a broken connection the resubscribe covers only conversations still held.
            async with self._lock:
                with contextlib.suppress(aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                    await self._pubsub.unsubscribe(*gone)

    # --- delivery ----------------------------------------------------------------------

    def deliver(self, conversation_id: int, text: str) -> None:
        """One published event: decoded once, offered to every local socket of the conversation."""
        members = self.local.get(conversation_id)
        if not members:
            return
        envelope = json.loads(text)
        handler, event = envelope["handler"], envelope["event"]
        # The frame sent to clients for a chat message is the event itself: encode it once.
        frame_text = json.dumps(event) if handler == "chat.message" else ""
        for subscriber in list(members):
            try:
                subscriber.fanout_event(handler, event, frame_text)
            except Exception:
                logger.exception("fan-out to a socket failed")

    # --- Redis subscription --------------------------------------------------------------

    async def _ensure_pubsub(self) -> aioredis.client.PubSub:
        if self._pubsub is None:
            self._redis = aioredis.from_url(settings.REDIS_URL, health_check_interval=30)
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            self._reader = self.loop.create_task(self._read())
        return self._pubsub

    async def _read(self) -> None:
        while True:
            pubsub = self._pubsub
            try:
                if pubsub is None or not pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await pubsub.get_message(timeout=1.0)
                if message is None or message["type"] != "message":
                    continue
                conversation_id = int(message["channel"].rsplit(b".", 1)[1])
                self.deliver(conversation_id, message["data"].decode())
            except asyncio.CancelledError:
                raise
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                logger.warning("fan-out subscription lost; resubscribing")
                await self._resubscribe()
            except Exception:
                logger.exception("fan-out reader failed on a message")

    async def _resubscribe(self) -> None:
        """A new subscription for every conversation still held; then sockets heal from the DB."""
        for attempt in range(1_000_000):
            await asyncio.sleep(RESUBSCRIBE_BACKOFF[min(attempt, len(RESUBSCRIBE_BACKOFF) - 1)])
            async with self._lock:
                old, self._pubsub = self._pubsub, None
                if old is not None:
                    with contextlib.suppress(Exception):  # it is already broken
                        await old.aclose()
                if self._redis is None:
                    return
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                try:
                    channels = [channel_name(c) for c in self.local]
                    if channels:
                        await pubsub.subscribe(*channels)
                except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                    await pubsub.aclose()
                    continue
                self._pubsub = pubsub
            break
        metrics.fanout_resubscribed()
        held: dict[Subscriber, list[int]] = {}
        for conversation_id, members in self.local.items():
            for subscriber in members:
                held.setdefault(subscriber, []).append(conversation_id)
        for subscriber, conversation_ids in held.items():
            subscriber.fanout_reset(conversation_ids)


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()
_hubs_lock = threading.Lock()


def get_hub() -> Hub:
    """The hub of the running event loop (one per server process in production)."""
    loop = asyncio.get_running_loop()
    with _hubs_lock:
        hub = _hubs.get(loop)
        if hub is None:
            hub = _hubs[loop] = Hub(loop)
        return hub


def publish(conversation_id: int, handler: str, event: dict[str, Any]) -> None:
    """Publishes a conversation event once (called from sync code, after commit)."""
    text = encode(handler, event)
    client = redis_client()
    if client is not None:
        client.publish(channel_name(conversation_id), text)
        return
    # Embedded default: every hub lives in this process.
    with _hubs_lock:
        hubs = list(_hubs.values())
    for hub in hubs:
        if not hub.loop.is_closed():
            hub.loop.call_soon_threadsafe(hub.deliver, conversation_id, text)
