"""The named rate limits (settings PARLEY_RATE_LIMITS) and the check every transport calls.

Names: `ws_send` and `ws_typing` (per user, per WebSocket frame), `ws_handshake` (per IP),
`login` and `register` (per IP), `rest_write` (per user; per IP for anonymous writes).
Whitelisted addresses are exempt from all of them.
"""

import functools

from django.conf import settings

from messaging.errors import RateLimited

from .buckets import Rate, TokenBucket, Verdict


@functools.cache
def _bucket(name: str, rate_text: str) -> TokenBucket:
    return TokenBucket(name, Rate.parse(rate_text))


def bucket(name: str) -> TokenBucket:
    """The bucket for a named limit, built from the current setting."""
    return _bucket(name, settings.PARLEY_RATE_LIMITS[name])


def refused(name: str, verdict: Verdict) -> RateLimited:
    return RateLimited(
        f"rate limit {name} exceeded; retry in {verdict.retry_after:.1f} s",
        retry_after=verdict.retry_after,
    )


def rate_check(name: str, key: str) -> None:
    """Takes one token for `key` from the named limit or raises RateLimited (sync callers)."""
    verdict = bucket(name).take(key)
    if not verdict.allowed:
        raise refused(name, verdict)


async def arate_check(name: str, key: str) -> None:
    """As rate_check, for async callers (the gateway consumer)."""
    verdict = await bucket(name).atake(key)
    if not verdict.allowed:
        raise refused(name, verdict)
