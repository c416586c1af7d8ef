"""A socket's heartbeat: closed with 4408 once silent for the heartbeat timeout; until then its
presence entry is kept fresh (once per heartbeat interval)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from django.conf import settings

from core.asyncdb import db_hop
from core.close_codes import Close
from presence.services import (
    presence_connect,
    presence_disconnect,
    presence_heartbeat,
    presence_timeout,
)

from .user_channel import UserChannel

logger = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        *,
        user_id: int,
        channel: UserChannel,
        close: Callable[[int], Awaitable[None]],
    ) -> None:
        self.user_id = user_id
        self.channel = channel
        self.close = close
        self.last_frame_at = asyncio.get_running_loop().time()
        self.watchdog: asyncio.Task[None] | None = None
        self.closing = False

    def beat(self) -> None:
        """Any frame from the client is a sign of life."""
        self.last_frame_at = asyncio.get_running_loop().time()

    async def start(self) -> None:
        try:
            await db_hop(presence_connect)(user_id=self.user_id, connection_id=self.channel.name)
        except Exception:
            logger.exception("presence connect failed")  # the next heartbeat retries
        self.watchdog = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        self.closing = True
        if self.watchdog is not None:
            self.watchdog.cancel()
            await self._leave_presence()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        interval = settings.PARLEY_HEARTBEAT_INTERVAL
        next_refresh = loop.time() + interval
        while True:
            await asyncio.sleep(interval / 2)
            now = loop.time()
            if now - self.last_frame_at > presence_timeout():
                self.closing = True
                await self._leave_presence()
                await self.close(Close.HEARTBEAT_TIMEOUT)
                return
            if now >= next_refresh:
                next_refresh = now + interval
                try:
                    present = await db_hop(presence_heartbeat)(
                        user_id=self.user_id, connection_id=self.channel.name
                    )
                    if not present and not self.closing:  # lapsed (e.g. a stall): re-enter
                        await db_hop(presence_connect)(
                            user_id=self.user_id, connection_id=self.channel.name
                        )
                except Exception:
                    logger.exception("presence refresh failed")

    async def _leave_presence(self) -> None:
        try:
            await db_hop(presence_disconnect)(user_id=self.user_id, connection_id=self.channel.name)
        except Exception:
            # The entry lapses by itself after the heartbeat timeout.
            logger.exception("presence disconnect failed")
