"""Every WebSocket close code Parley sends, in one table (docs/protocol.md explains each).

A close code is what a client acts on, so each one names the client's next step.
"""

from enum import IntEnum


class Close(IntEnum):
    # Registered codes (RFC 6455, IANA): a client library understands them without Parley.
    GOING_AWAY = 1001  # this server is shutting down: reconnect (to another one)
    SERVICE_RESTART = 1012  # the realtime path may have lost events: reconnect, then sync
    TRY_AGAIN_LATER = 1013  # database/Redis unavailable, or the socket could not keep up
    # Parley's own (4000-4999, named after the HTTP status they stand for).
    UNAUTHORIZED = 4401  # no or no longer valid credentials: re-authenticate, then reconnect
    FORBIDDEN = 4403  # Origin not allowed, address blacklisted or account banned: do not retry
    HEARTBEAT_TIMEOUT = 4408  # nothing received for the heartbeat timeout: reconnect, sync
    RATE_LIMITED = 4429  # too many handshakes or refusals: reconnect later, with backoff


# The socket could not keep up with its live frames (the same code as "try again later").
TOO_SLOW = Close.TRY_AGAIN_LATER

# Registered codes that daphne's WebSocket library would refuse to send (chatsite/serving.py).
SERVER_CLOSE_CODES = frozenset({Close.GOING_AWAY, Close.SERVICE_RESTART, Close.TRY_AGAIN_LATER})

# Close codes a refused handshake ends with, and the metrics outcome each stands for.
HANDSHAKE_CLOSE_OUTCOMES = {
    Close.UNAUTHORIZED: "unauthorized",
    Close.FORBIDDEN: "forbidden",
    Close.RATE_LIMITED: "rate_limited",
}
