"""Protection for the WebSocket gateway: the handshake guard and the consumer's frame limits.

`HandshakeGuard` wraps the WebSocket stack: a blacklisted address is refused before the
handshake completes (HTTP 403), a handshake over the per-IP limit is accepted and closed at
once with 4429. `GatewayProtection` is mixed into the gateway consumer: `rate_limit(name)` at
the top of a frame handler raises RateLimited (an `error` frame, nothing done), sustained
refusals close the socket with 4429, and a new blacklist entry covering the socket's address
closes it with 4403.
"""

import ipaddress
import time
from collections import deque
from typing import Any

from django.conf import settings

from chatsite import metrics
from messaging import realtime

from . import limits
from .addresses import parse_ip, scope_client_ip
from .rules import aaddress_lists

CLOSE_RATE_LIMITED = 4429
CLOSE_FORBIDDEN = 4403


async def _refuse(receive, send, code: int | None) -> None:  # type: ignore[no-untyped-def]
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

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
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
                return await _refuse(receive, send, CLOSE_RATE_LIMITED)
        return await self.inner(scope, receive, send)


class GatewayProtection:
    """Mixin for GatewayConsumer (which provides user, _join, close and the scope)."""

    async def protection_start(self) -> None:
        """Call once the socket is authenticated: watches for blacklist entries of its address."""
        self.client_ip: str = self.scope.get("client_ip") or scope_client_ip(self.scope)  # type: ignore[attr-defined]
        self.refusals: deque[float] = deque()
        await self._join(realtime.ADDRESSES_GROUP)  # type: ignore[attr-defined]

    async def rate_limit(self, name: str) -> None:
        """Takes a token from this user's bucket for `name`, or raises RateLimited."""
        if (await aaddress_lists()).whitelisted(self.client_ip):
            return
        await limits.arate_check(name, f"user.{self.user.pk}")  # type: ignore[attr-defined]

    async def refusal_counted(self) -> None:
        """After a rate_limited error: PARLEY_ABUSE_REFUSALS within the window closes with 4429."""
        now = time.monotonic()
        self.refusals.append(now)
        while self.refusals and now - self.refusals[0] > settings.PARLEY_ABUSE_WINDOW:
            self.refusals.popleft()
        if len(self.refusals) >= settings.PARLEY_ABUSE_REFUSALS:
            await self.close(code=CLOSE_RATE_LIMITED)  # type: ignore[attr-defined]

    async def gateway_close_addresses(self, message: dict[str, Any]) -> None:
        """A blacklist entry was added somewhere: close if it covers this socket's address."""
        address = parse_ip(self.client_ip)
        if address is None:
            return
        for network in message["event"]["networks"]:
            net = ipaddress.ip_network(network, strict=False)
            if net.version == address.version and address in net:
                await self.close(code=CLOSE_FORBIDDEN)  # type: ignore[attr-defined]
                return
