"""Errors the services raise, and their one mapping to the wire (`wire_error`).

Both transports send the same body: REST as HTTP `status` with {"code", "detail", "field"}
(chatsite/api.py), the WebSocket gateway as {"type": "error", "code", "detail", "field", "ref",
"request_id"} (gateway/consumer.py). Both carry `extra` fields when a class has them (e.g.
`retry_after`). An outage of the database or Redis maps to `unavailable` (503) the same way.
"""

import math
from dataclasses import dataclass, field
from typing import Any

import redis
from django.db import DatabaseError, InterfaceError, OperationalError

# What "the database is unavailable" looks like to a caller: Django's InterfaceError ("connection
# already closed") is not a DatabaseError subclass.
DATABASE_ERRORS = (DatabaseError, InterfaceError)
# What "Redis is unavailable" looks like (connection refused or reset, a read that timed out).
REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)
# An outage: the database or Redis cannot be reached or cannot take work now (connection lost or
# refused, the server shutting down, a lock or statement timeout, a deadlock). Anything else a
# store raises (a value the database refuses, a unique key) is about one request: a batch that
# fails with it is redone request by request (messaging/services.py, message_send_many), while
# an outage answers every request of the batch `unavailable` at once.
OUTAGE_ERRORS = (OperationalError, InterfaceError, *REDIS_ERRORS)


class ChatError(Exception):
    code = "bad_request"
    status = 400

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "field": self.field, **self.extra}

    @property
    def extra(self) -> dict[str, Any]:
        """Fields beyond code/detail that both transports add to the error."""
        return {}


class BadRequest(ChatError):
    code = "bad_request"
    status = 400


class Forbidden(ChatError):
    code = "forbidden"
    status = 403


class NotFound(ChatError):
    code = "not_found"
    status = 404


class Conflict(ChatError):
    code = "conflict"
    status = 409


class Gone(ChatError):
    """It existed but can no longer be used (an expired or used-up invite)."""

    code = "gone"
    status = 410


class Unavailable(ChatError):
    code = "unavailable"
    status = 503


class EditWindowClosed(Forbidden):
    code = "edit_window_closed"
    status = 403


class MemberLimit(BadRequest):
    code = "member_limit"
    status = 400


class RateLimited(ChatError):
    """Over a rate limit: nothing was done; the same request may succeed after `retry_after`."""

    code = "rate_limited"
    status = 429

    def __init__(self, detail: str, *, retry_after: float) -> None:
        super().__init__(detail)
        # Whole seconds, at least 1: what Retry-After carries and what a client can sleep on.
        self.retry_after = max(1, math.ceil(retry_after))

    @property
    def extra(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}


@dataclass(frozen=True)
class WireError:
    """An error as both transports send it: `body` is the REST body and, with `type`, `ref`
    and `request_id` added, the WebSocket `error` frame."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    # An outage or a bug: worth a logged traceback, unlike a refused request.
    unexpected: bool = False


def wire_error(exc: BaseException) -> WireError | None:
    """The wire form of a service error or an outage; None for anything else (the transport's
    own errors, e.g. DRF's validation errors, keep their own mapping)."""
    if isinstance(exc, ChatError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else {}
        return WireError(exc.status, exc.as_dict(), headers)
    if isinstance(exc, DATABASE_ERRORS):
        detail = "the database is unavailable; retry later"
    elif isinstance(exc, REDIS_ERRORS):
        detail = "Redis is unavailable; retry later"
    else:
        return None
    return WireError(
        Unavailable.status,
        {"code": Unavailable.code, "detail": detail, "field": None},
        unexpected=True,
    )


# What any other failure looks like on the wire (HTTP 500, or an `error` frame).
SERVER_ERROR = WireError(
    500, {"code": "server_error", "detail": "the server failed", "field": None}, unexpected=True
)
