"""Publishing events to live sockets through the channel layer.

Group names come from trusted ids only. Group delivery is at-most-once: the database and `seq`
are the truth, these frames are a fast hint that sockets repair with a database read.
"""

import logging
from time import perf_counter
from typing import Any

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from chatsite import metrics

logger = logging.getLogger(__name__)


def conversation_group(conversation_id: int) -> str:
    return f"conv.{int(conversation_id)}"


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
    _group_send(conversation_group(conversation_id), handler, payload)


def publish_to_user(user_id: int, handler: str, payload: dict[str, Any]) -> None:
    _group_send(user_group(user_id), handler, payload)


def close_user_sockets(user_id: int, code: int) -> None:
    """Closes every live socket of the user, on every server process, with `code`."""
    _group_send(user_group(user_id), "gateway.close", {"code": int(code)})
