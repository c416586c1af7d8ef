"""Publishing events to live sockets through the process's broker (realtime/broker.py):
conversation events on their conversation's channel, per-user events on the user's (session's,
addresses') channel; each server process's hub hands them to its sockets (realtime/hub.py).

Channel names come from trusted ids only. Delivery is at-most-once: the database and `seq` are
the truth, these frames are a fast hint that sockets repair with a database read.
"""

import logging
from time import perf_counter
from typing import Any

from django.dispatch import Signal

from chatsite import metrics

from . import hub as fanout

logger = logging.getLogger(__name__)

# Sent after every batch of committed conversation events is published (handler, events):
# outgoing webhooks (integrations.outgoing) listen here.
conversation_events = Signal()


def user_group(user_id: int) -> str:
    return f"user.{int(user_id)}"


def publish_to_conversation(conversation_id: int, handler: str, payload: dict[str, Any]) -> None:
    """Conversation events go through the fan-out hub: published once, handed to each local
    socket by every server process (realtime/hub.py). `handler` is the event's name, the same
    as its frame's `type` ("message", "message_updated", ...): each socket routes it by that
    name (gateway/live.py EVENT_ROUTES); messages are ordered by seq on each socket."""
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
    """An event to every socket of the user, on every server process."""
    _publish_to_topics(handler, [user_group(user_id)], payload)


def publish_to_users(user_ids: list[int], handler: str, payload: dict[str, Any]) -> None:
    """The same event to many users' sockets: one pipelined trip per Redis shard."""
    _publish_to_topics(handler, [user_group(user_id) for user_id in user_ids], payload)


def _publish_to_topics(handler: str, topics: list[str], payload: dict[str, Any]) -> None:
    if not topics:
        return
    started = perf_counter()
    try:
        fanout.publish_to_topics([(topic, handler, payload) for topic in topics])
    except Exception:
        # Committed all the same; at-most-once, like the conversation events.
        metrics.channel_layer_send_failed(event=handler, reason="error")
        logger.exception("publishing %s to %d user channels failed", handler, len(topics))
    else:
        metrics.fanout_done(event=handler, seconds=perf_counter() - started)


def close_user_sockets(user_id: int, code: int) -> None:
    """Closes every live socket of the user, on every server process, with `code`."""
    _publish_to_topics("gateway.close", [user_group(user_id)], {"code": int(code)})


def session_group(session_id: str) -> str:
    """The sockets of one login session; `session_id` comes from a signed token or a digest."""
    if not session_id.isalnum() or len(session_id) > 64:
        raise ValueError("a session id is alphanumeric, at most 64 characters")
    return f"session.{session_id}"


def close_session_sockets(session_id: str, code: int) -> None:
    """Closes the sockets of one login session (a logout), on every server process."""
    _publish_to_topics("gateway.close", [session_group(session_id)], {"code": int(code)})


ADDRESSES_GROUP = "gateway.addresses"


def close_address_sockets(networks: list[str]) -> None:
    """Closes every live socket whose client address is in one of `networks`, on every process.

    Every socket holds one channel and checks its own address: a CIDR entry cannot be turned
    into the set of addresses it covers. Blacklisting is rare, so one fan-out per entry is cheap.
    """
    _publish_to_topics("gateway.close_addresses", [ADDRESSES_GROUP], {"networks": list(networks)})
