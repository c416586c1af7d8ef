"""Errors the chat services raise; both transports turn them into their own error shape.

WebSocket: {"type": "error", "code": code, "detail": detail, "ref": ..., "field": field}.
REST: HTTP `status` with {"code": code, "detail": detail, "field": field}.
Both carry `extra` fields when a class has them (e.g. `retry_after`).
"""

import math

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

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "detail": self.detail, "field": self.field}

    @property
    def extra(self) -> dict:
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
    def extra(self) -> dict[str, int]:
        return {"retry_after": self.retry_after}

    def as_dict(self) -> dict:
        return {**super().as_dict(), **self.extra}
