"""Publishing events to live sockets through the channel layer.

Group names come from trusted ids only. Group delivery is at-most-once: the database and `seq`
are the truth, these frames are a fast hint that sockets repair with a database read.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def conversation_group(conversation_id: int) -> str:
    return f"conv.{int(conversation_id)}"


def user_group(user_id: int) -> str:
    return f"user.{int(user_id)}"


def _group_send(group: str, handler: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": handler, "event": payload})
    except Exception:
        # The message is already committed; sockets heal from the database (gap fill, sync).
        logger.exception("channel layer group_send to %s failed", group)


def publish_to_conversation(conversation_id: int, handler: str, payload: dict[str, Any]) -> None:
    _group_send(conversation_group(conversation_id), handler, payload)


def publish_to_user(user_id: int, handler: str, payload: dict[str, Any]) -> None:
    _group_send(user_group(user_id), handler, payload)


def close_user_sockets(user_id: int, code: int) -> None:
    """Closes every live socket of the user, on every server process, with `code`."""
    _group_send(user_group(user_id), "gateway.close", {"code": int(code)})
