"""Publishing events to live sockets: conversation events through the fan-out hub
(realtime/hub.py), per-user events through the channel layer.

Group names come from trusted ids only. Group delivery is at-most-once: the database and `seq`
are the truth, these frames are a fast hint that sockets repair with a database read.
"""

import asyncio
import logging
from time import perf_counter
from typing import Any

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.dispatch import Signal

from chatsite import metrics

from . import hub as fanout

logger = logging.getLogger(__name__)

# Sent after every batch of committed conversation events is published (handler, events):
# outgoing webhooks (integrations.outgoing) listen here.
conversation_events = Signal()


def user_group(user_id: int) -> str:
    return f"user.{int(user_id)}"


def _group_send(group: str, handler: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    started = perf_counter()
    try:
        async_to_sync(layer.group_send)(group, {"type": handler, "event": payload})
    except Exception as exc:
        # The message is already committed; sockets heal from the database (gap fill, sync).
        reason = "channel_full" if isinstance(exc, ChannelFull) else "error"
        metrics.channel_layer_send_failed(event=handler, reason=reason)
        logger.exception("channel layer group_send to %s failed", group)
    else:
        metrics.fanout_done(event=handler, seconds=perf_counter() - started)


def publish_to_conversation(conversation_id: int, handler: str, payload: dict[str, Any]) -> None:
    """Conversation events go through the fan-out hub: published once, handed to each local
    socket by every server process (realtime/hub.py). The consumer method named after
    `handler` ("message.updated" → message_updated) receives {"type", "event"}; "chat.message"
    is ordered by seq on each socket."""
    publish_to_conversations(handler, [(conversation_id, payload)])


def publish_to_conversations(handler: str, events: list[tuple[int, dict[str, Any]]]) -> None:
    """(conversation_id, payload) events of one kind, in order, in one trip per Redis shard."""
    if not events:
        return
    started = perf_counter()
    try:
        fanout.publish_many(
            [(conversation_id, handler, payload) for conversation_id, payload in events]
        )
    except Exception:
        # Committed all the same: sockets heal from the database (gap fill, sync).
        metrics.channel_layer_send_failed(event=handler, reason="error")
        logger.exception("fan-out publish of %d %s events failed", len(events), handler)
    else:
        metrics.fanout_done(event=handler, seconds=perf_counter() - started)
    conversation_events.send_robust(None, handler=handler, events=events)


def publish_to_user(user_id: int, handler: str, payload: dict[str, Any]) -> None:
    _group_send(user_group(user_id), handler, payload)


def publish_to_users(user_ids: list[int], handler: str, payload: dict[str, Any]) -> None:
    """The same event to many users' sockets in one trip into the event loop (a per-user
    `publish_to_user` pays the sync-to-async hop for every user)."""
    layer = get_channel_layer()
    if layer is None or not user_ids:
        return
    message = {"type": handler, "event": payload}

    async def send_one(user_id: int) -> None:
        started = perf_counter()
        try:
            await layer.group_send(user_group(user_id), message)
        except Exception as exc:
            reason = "channel_full" if isinstance(exc, ChannelFull) else "error"
            metrics.channel_layer_send_failed(event=handler, reason=reason)
            logger.exception("channel layer group_send to %s failed", user_group(user_id))
        else:
            metrics.fanout_done(event=handler, seconds=perf_counter() - started)

    async def send_all() -> None:
        # Bounded concurrency: overlaps Redis round trips without flooding the pool.
        for start in range(0, len(user_ids), 100):
            await asyncio.gather(*(send_one(uid) for uid in user_ids[start : start + 100]))

    async_to_sync(send_all)()


def close_user_sockets(user_id: int, code: int) -> None:
    """Closes every live socket of the user, on every server process, with `code`."""
    _group_send(user_group(user_id), "gateway.close", {"code": int(code)})


def session_group(session_id: str) -> str:
    """The sockets of one login session; `session_id` comes from a signed token or a digest."""
    if not session_id.isalnum() or len(session_id) > 64:
        raise ValueError("a session id is alphanumeric, at most 64 characters")
    return f"session.{session_id}"


def close_session_sockets(session_id: str, code: int) -> None:
    """Closes the sockets of one login session (a logout), on every server process."""
    _group_send(session_group(session_id), "gateway.close", {"code": int(code)})


ADDRESSES_GROUP = "gateway.addresses"


def close_address_sockets(networks: list[str]) -> None:
    """Closes every live socket whose client address is in one of `networks`, on every process.

    Every socket is in one group and checks its own address: a CIDR entry cannot be turned
    into the set of addresses it covers. Blacklisting is rare, so one fan-out per entry is cheap.
    """
    _group_send(ADDRESSES_GROUP, "gateway.close_addresses", {"networks": list(networks)})
