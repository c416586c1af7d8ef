"""The named rate limits (settings PARLEY_RATE_LIMITS) and the check every transport calls.

Names: `ws_send` and `ws_typing` (per user, per WebSocket frame), `ws_handshake` (per IP),
`login` and `register` (per IP), `login_account` (per account name, login attempts; a success
refills it), `rest_write` (per user; per IP for anonymous writes).
Whitelisted addresses are exempt from all of them except `login_account`.
"""

from django.conf import settings

from chatsite import metrics
from core.errors import RateLimited

from .buckets import TokenBucket, Verdict
from .state import protection_state


def bucket(name: str) -> TokenBucket:
    """The bucket for a named limit, built from the current setting (once per process)."""
    return protection_state().bucket(name, settings.PARLEY_RATE_LIMITS[name])


def take(name: str, key: str) -> Verdict:
    """One token from `key`'s bucket of the named limit; refusals are counted in metrics."""
    verdict = bucket(name).take(key)
    if not verdict.allowed:
        metrics.ratelimit_refused(scope=name)
    return verdict


async def atake(name: str, key: str) -> Verdict:
    """As take, without blocking the event loop."""
    verdict = await bucket(name).atake(key)
    if not verdict.allowed:
        metrics.ratelimit_refused(scope=name)
    return verdict


def refused(name: str, verdict: Verdict) -> RateLimited:
    return RateLimited(
        f"rate limit {name} exceeded; retry in {verdict.retry_after:.1f} s",
        retry_after=verdict.retry_after,
    )


def rate_check(name: str, key: str) -> None:
    """Takes one token for `key` from the named limit or raises RateLimited (sync callers)."""
    verdict = take(name, key)
    if not verdict.allowed:
        raise refused(name, verdict)


async def arate_check(name: str, key: str) -> None:
    """As rate_check, for async callers (the gateway consumer)."""
    verdict = await atake(name, key)
    if not verdict.allowed:
        raise refused(name, verdict)
