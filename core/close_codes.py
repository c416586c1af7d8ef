"""Every WebSocket close code Parley sends, in one table (docs/protocol.md explains each).

A close code is what a client acts on, so each one names the client's next step.
"""

from typing import Final


class Close:
    """Plain ints, not an enum: autobahn (daphne) refuses any close code whose type is not
    exactly int."""

    # Registered codes (RFC 6455, IANA): a client library understands them without Parley.
    GOING_AWAY: Final = 1001  # this server is shutting down: reconnect (to another one)
    SERVICE_RESTART: Final = 1012  # the realtime path may have lost events: reconnect, then sync
    TRY_AGAIN_LATER: Final = 1013  # database/Redis unavailable, or the socket could not keep up
    # Parley's own (4000-4999, named after the HTTP status they stand for).
    UNAUTHORIZED: Final = 4401  # credentials missing or no longer valid: re-authenticate
    FORBIDDEN: Final = 4403  # Origin not allowed, address blacklisted, account banned: no retry
    HEARTBEAT_TIMEOUT: Final = 4408  # nothing received for the heartbeat timeout: reconnect, sync
    RATE_LIMITED: Final = 4429  # too many handshakes or refusals: reconnect later, with backoff


# The socket could not keep up with its live frames (the same code as "try again later").
TOO_SLOW: Final = Close.TRY_AGAIN_LATER

# Registered codes that daphne's WebSocket library would refuse to send (chatsite/serving.py).
SERVER_CLOSE_CODES = frozenset({Close.GOING_AWAY, Close.SERVICE_RESTART, Close.TRY_AGAIN_LATER})

# Close codes a refused handshake ends with, and the metrics outcome each stands for.
HANDSHAKE_CLOSE_OUTCOMES: dict[int, str] = {
    Close.UNAUTHORIZED: "unauthorized",
    Close.FORBIDDEN: "forbidden",
    Close.RATE_LIMITED: "rate_limited",
}
