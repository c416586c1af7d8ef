"""What to do after a socket closed: docs/protocol.md's close codes, in one table.

`STOP`: do not reconnect (4403, an HTTP 403 handshake refusal). `REAUTH`: get a new token,
then reconnect (4401); without a way to get one, stop. `SOON`: reconnect at once with a little
jitter (1001, the server process is shutting down). `BACKOFF`: reconnect with jittered
exponential backoff (1006, 1011, 1012, 1013, 4408, 1009, network errors, everything unknown).
`SLOW`: backoff with a floor of a few seconds (4429, the server asked to slow down).
"""

import random

STOP = "stop"
REAUTH = "reauth"
SOON = "soon"
BACKOFF = "backoff"
SLOW = "slow"

CLOSE_POLICY: dict[int, str] = {
    4401: REAUTH,
    4403: STOP,
    1001: SOON,
    4429: SLOW,
    1012: BACKOFF,
    1013: BACKOFF,
    4408: BACKOFF,
    1006: BACKOFF,
    1011: BACKOFF,
    1009: BACKOFF,
}

# Closes after which another server process is the better next try (the one we were on may be
# going away or broken); others retry the same URL first.
ROTATE = {None, 1001, 1006, 1011, 1012, 1013}

SLOW_FLOOR = 5.0  # seconds, for 4429
SOON_JITTER = 2.0  # seconds, for 1001


def policy_for(code: int | None) -> str:
    """The action for a close code (None: the connection broke without a close frame)."""
    if code is None:
        return BACKOFF
    return CLOSE_POLICY.get(code, BACKOFF)


def reconnect_delay(
    code: int | None, attempt: int, *, base: float, cap: float, rng: random.Random
) -> float:
    """Full jitter (uniform in [0, min(cap, base * 2**attempt)]), shaped by the close code."""
    action = policy_for(code)
    if action == SOON:
        return rng.uniform(0, SOON_JITTER)
    delay = rng.uniform(0, min(cap, base * 2**attempt))
    if action == SLOW:
        return SLOW_FLOOR + delay
    return delay
