"""Errors the SDK raises. Every one carries what the server said (`code`, `detail`, `field`)."""

from typing import Any


class ParleyError(Exception):
    """The server refused something: an `error` frame, or a REST answer 4xx/5xx."""

    def __init__(
        self,
        code: str,
        detail: str = "",
        *,
        field: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.field = field
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id
        self.body = body


class ConnectionStopped(Exception):
    """The client stopped for good (closed by you, or a close code that forbids reconnecting);
    sends still waiting for their ack fail with it."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class AuthenticationFailed(ConnectionStopped):
    """4401 (bad, expired or revoked token) and no way to get a new one: give `refresh=`."""


class Forbidden(ConnectionStopped):
    """4403 or HTTP 403 on the handshake (Origin refused, banned, blacklisted): never retried."""
