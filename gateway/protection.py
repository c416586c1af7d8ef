"""Protection for the WebSocket gateway: the handshake guard and the consumer's frame limits.

`HandshakeGuard` wraps the WebSocket stack: a blacklisted address is refused before the
handshake completes (HTTP 403), a handshake over the per-IP limit is accepted and closed at
once with 4429. `SocketProtection` is each socket's: `rate_limit(name)` at the top of a frame
handler raises RateLimited (an `error` frame, nothing done), sustained refusals close the socket
with 4429, and a new blacklist entry covering the socket's address closes it with 4403.

A blacklist entry reaches live sockets two ways: the service's event on the broker's address
channel (at once, where the broker is shared: Redis), and each process's `AddressWatch`, which
checks the shared stamp every PARLEY_IP_LISTS_REFRESH seconds and closes its sockets that a
changed blacklist covers. The second is what closes them on the embedded default when the
change was made by another process (`manage.py blacklist add`), whose in-memory broker reaches
no server; it also covers an event lost on the way (at-most-once).
"""

import asyncio
import ipaddress
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from django.conf import settings

import realtime
from chatsite import metrics
from core.close_codes import Close
from protection import limits
from protection.addresses import parse_ip, scope_client_ip
from protection.rules import AddressLists, aaddress_lists

from .user_channel import UserChannel

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

logger = logging.getLogger(__name__)


async def _refuse(receive: Receive, send: Send, code: int | None) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if code is None:
        await send({"type": "websocket.close"})  # before accept: the server answers HTTP 403
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code})


class HandshakeGuard:
    """ASGI middleware for WebSocket scopes: sets scope["client_ip"], refuses blocked handshakes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ip = scope_client_ip(scope)
        scope = {**scope, "client_ip": ip}
        lists = await aaddress_lists()
        if lists.blacklisted(ip):
            metrics.handshake(outcome="forbidden")
            return await _refuse(receive, send, None)
        if not lists.whitelisted(ip):
            verdict = await limits.atake("ws_handshake", ip)
            if not verdict.allowed:
                metrics.handshake(outcome="rate_limited")
                return await _refuse(receive, send, Close.RATE_LIMITED)
        await self.inner(scope, receive, send)


class AddressWatch:
    """This event loop's protected sockets, and the task that closes those a changed blacklist
    covers (within PARLEY_IP_LISTS_REFRESH seconds of a change made by any process). The task
    runs while the loop has sockets."""

    def __init__(self) -> None:
        self.sockets: set[SocketProtection] = set()
        self.task: asyncio.Task[None] | None = None
        self.version: str | None = None

    def add(self, socket: "SocketProtection") -> None:
        self.sockets.add(socket)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._watch())

    def discard(self, socket: "SocketProtection") -> None:
        self.sockets.discard(socket)
        if not self.sockets and self.task is not None:  # nothing to watch for: no polling
            self.task.cancel()
            self.task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(settings.PARLEY_IP_LISTS_REFRESH)
            try:
                # The stamp itself, not a copy a request refreshed just before a change:
                # sockets close within one interval of the commit.
                self.check(await aaddress_lists(recheck=True))
            except Exception:
                logger.exception("closing the sockets of blacklisted addresses failed")

    def check(self, lists: AddressLists) -> None:
        """Once per version of the lists: every socket whose address it blacklists closes."""
        if lists.version == self.version:
            return
        self.version = lists.version
        for socket in list(self.sockets):
            if lists.blacklisted(socket.client_ip):
                socket.address_blacklisted()


class SocketProtection:
    """One socket's limits: `rate_limit(name)` at the top of a frame handler raises RateLimited
    (an `error` frame, nothing done), sustained refusals close the socket with 4429, and a new
    blacklist entry covering its address closes it with 4403."""

    def __init__(
        self,
        *,
        scope: dict[str, Any],
        user_id: int,
        close: Callable[[int], Coroutine[Any, Any, None]],
        watch: AddressWatch,
    ) -> None:
        self.client_ip: str = scope.get("client_ip") or scope_client_ip(scope)
        self.user_id = user_id
        self.close = close
        self.watch = watch
        self.refusals: deque[float] = deque()
        self.address_closing: asyncio.Task[None] | None = None  # the 4403 close, once asked for

    async def start(self, channel: UserChannel) -> None:
        """Once the socket is authenticated: watches for blacklist entries of its address."""
        await channel.join(realtime.ADDRESSES_GROUP)
        self.watch.add(self)
        # A change the watch took in between the handshake guard and the line above.
        if (await aaddress_lists()).blacklisted(self.client_ip):
            self.address_blacklisted()

    def stop(self) -> None:
        self.watch.discard(self)

    def address_blacklisted(self) -> None:
        """Closes the socket with 4403, once (the watch and the broker's event may both ask)."""
        if self.address_closing is None:
            self.address_closing = asyncio.get_running_loop().create_task(
                self.close(Close.FORBIDDEN)
            )

    async def rate_limit(self, name: str) -> None:
        """Takes a token from this user's bucket for `name`, or raises RateLimited."""
        if (await aaddress_lists()).whitelisted(self.client_ip):
            return
        await limits.arate_check(name, f"user.{self.user_id}")

    async def refusal_counted(self) -> None:
        """After a rate_limited error: PARLEY_ABUSE_REFUSALS within the window closes with 4429."""
        now = time.monotonic()
        self.refusals.append(now)
        while self.refusals and now - self.refusals[0] > settings.PARLEY_ABUSE_WINDOW:
            self.refusals.popleft()
        if len(self.refusals) >= settings.PARLEY_ABUSE_REFUSALS:
            await self.close(Close.RATE_LIMITED)

    def close_addresses(self, event: dict[str, Any]) -> None:
        """A blacklist entry was added somewhere: close if it covers this socket's address."""
        address = parse_ip(self.client_ip)
        if address is None:
            return
        for network in event["networks"]:
            net = ipaddress.ip_network(network, strict=False)
            if net.version == address.version and address in net:
                self.address_blacklisted()
                return
