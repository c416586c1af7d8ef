"""A socket's channel-layer side: the per-user, per-session and address groups it is in, and
the task that receives their events.

Per-user events (a new conversation, a forced close, profile and presence changes) reach a
socket through the channel layer; conversation events through the process's hub
(realtime/hub.py). The layer forgets a membership `group_expiry` seconds after its group_add,
so `renew` adds again (the heartbeat calls it every half expiry).

When the layer's receive fails, this socket may have missed events no database read repairs
(per-user events, group memberships): `on_lost` closes it with 1012 so the client reconnects,
which rebuilds the memberships, and syncs.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .eager import run_eagerly

logger = logging.getLogger(__name__)


def renewal_interval(layer: Any) -> float:
    """Half the layer's group expiry (both channels backends default to 86400 s)."""
    return max(float(getattr(layer, "group_expiry", 86400)) / 2, 0.05)


class UserChannel:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.name = ""
        self.groups: set[str] = set()
        self.receiver: asyncio.Task[Any] | None = None

    async def open(self) -> str:
        """A channel of its own (its name is also the socket's presence connection id)."""
        self.name = await self.layer.new_channel() if self.layer is not None else ""
        return self.name

    async def join(self, group: str) -> None:
        await self.layer.group_add(group, self.name)
        self.groups.add(group)

    def start(
        self,
        handle: Callable[[dict[str, Any]], Awaitable[None]],
        on_lost: Callable[[], None],
    ) -> None:
        """Hands each event received to `handle`, one at a time, in order. The first receive
        is asked for at once (run eagerly), as channels does for its consumers."""
        self.receiver = run_eagerly(self._receive(handle, on_lost))

    async def _receive(
        self,
        handle: Callable[[dict[str, Any]], Awaitable[None]],
        on_lost: Callable[[], None],
    ) -> None:
        while True:
            try:
                message = await self.layer.receive(self.name)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("channel layer receive failed; closing the socket", exc_info=True)
                on_lost()
                return
            try:
                await handle(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("handling a %s event failed", message.get("type"))

    async def renew(self) -> None:
        try:
            for group in list(self.groups):
                await self.layer.group_add(group, self.name)
        except Exception:
            # The layer is failing; its receive fails too and closes the socket (1012).
            logger.warning("renewing group memberships failed", exc_info=True)

    async def close(self) -> None:
        if self.receiver is not None:
            self.receiver.cancel()
        for group in self.groups:
            await self.layer.group_discard(group, self.name)
        self.groups.clear()
