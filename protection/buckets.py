"""One token-bucket implementation: atomic in Redis (a Lua script), in memory when embedded.

A bucket holds up to `burst` tokens and refills at `rate` tokens per second; each action takes
one. Refill and take happen in one Lua script with Redis's own clock, so every server process
shares one bucket per key and none can race another past the limit.
"""

import asyncio
import hashlib
import logging
import re
import threading
import time
import weakref
from dataclasses import dataclass

import redis
import redis.asyncio
from django.conf import settings

from chatsite.redis import redis_client
from chatsite.redis_url import async_client

logger = logging.getLogger(__name__)

KEY_PREFIX = "parley:bucket:"

# KEYS[1]: the bucket. ARGV: rate (tokens/s), burst, cost.
# Returns {allowed (0/1), seconds until `cost` tokens are there (string: Lua numbers would be
# truncated to integers on the way out)}.
TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""

TAKE_SCRIPT_SHA = hashlib.sha1(TAKE_SCRIPT.encode(), usedforsecurity=False).hexdigest()

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|m|min|h|hour)\s*(?::\s*(\d+)\s*)?$")
_PERIOD = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600}


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int

    @classmethod
    def parse(cls, text: str) -> "Rate":
        """`10/s:30` is 10 per second with bursts of 30; `10/m` is 10 per minute, burst 10."""
        match = _RATE.match(text)
        if not match:
            raise ValueError(f"rate {text!r} is not like '10/s', '30/m:30' or '100/h'")
        count, period, burst = match.groups()
        per_second = float(count) / _PERIOD[period]
        burst_tokens = int(burst) if burst else max(1, round(float(count)))
        if per_second <= 0 or burst_tokens < 1:
            raise ValueError(f"rate {text!r} must be positive")
        return cls(per_second, burst_tokens)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float  # seconds until the action would be allowed (0 when allowed)


class MemoryBuckets:
    """The embedded default's buckets: one process, so a dict under a lock is atomic enough."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: Rate, cost: int) -> Verdict:
        now = time.monotonic()
        with self.lock:
            tokens, ts = self.state.get(key, (float(rate.burst), now))
            tokens = min(rate.burst, tokens + max(0.0, now - ts) * rate.per_second)
            if tokens >= cost:
                verdict = Verdict(True, 0.0)
                tokens -= cost
            else:
                verdict = Verdict(False, (cost - tokens) / rate.per_second)
            self.state[key] = (tokens, now)
            if len(self.state) > 100_000:
                self._prune(now)
            return verdict

    def _prune(self, now: float) -> None:
        # Buckets untouched for an hour are full again (every configured rate refills in less).
        for key in [k for k, (_, ts) in self.state.items() if now - ts > 3600]:
            del self.state[key]

    def forget(self, key: str) -> None:
        with self.lock:
            self.state.pop(key, None)

    def clear(self) -> None:
        with self.lock:
            self.state.clear()


class BucketStores:
    """Where one process keeps its buckets: the in-memory ones (embedded default), and its
    registered Lua script per sync Redis client and asyncio client per event loop (Redis).
    One per process, part of its protection state (protection/state.py)."""

    def __init__(self) -> None:
        self.memory = MemoryBuckets()
        self.scripts: dict[int, object] = {}
        self.async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, redis.asyncio.Redis
        ] = weakref.WeakKeyDictionary()

    def script(self, client: redis.Redis) -> object:
        script = self.scripts.get(id(client))
        if script is None:
            script = self.scripts[id(client)] = client.register_script(TAKE_SCRIPT)
        return script

    def async_client(self) -> redis.asyncio.Redis:
        """One asyncio Redis client per event loop (its connections belong to that loop)."""
        loop = asyncio.get_running_loop()
        client = self.async_clients.get(loop)
        if client is None:
            # Sized like the realtime tier's pools (a burst of handshakes overflowed 100 in the
            # fault suite's reconnect storm), and like them without a socket timeout
            # (REALTIME_REDIS_OPTIONS explains the lost cancellations).
            client = async_client(settings.REDIS_URL, **settings.REALTIME_REDIS_OPTIONS)
            self.async_clients[loop] = client
        return client


def _verdict(result: list) -> Verdict:
    allowed, wait = result
    return Verdict(bool(int(allowed)), float(wait))


class TokenBucket:
    def __init__(self, name: str, rate: Rate, stores: BucketStores | None = None) -> None:
        """`stores`: the process's (protection.state) unless given."""
        self.name = name
        self.rate = rate
        if stores is None:
            from .state import protection_state

            stores = protection_state().buckets
        self.stores = stores

    def _key(self, key: str) -> str:
        return f"{KEY_PREFIX}{self.name}:{key}"

    def take(self, key: str, cost: int = 1) -> Verdict:
        """Takes `cost` tokens from the bucket of `key` if it holds them (sync callers)."""
        client = redis_client()
        if client is None:
            return self.stores.memory.take(self._key(key), self.rate, cost)
        script = self.stores.script(client)
        try:
            return _verdict(script(keys=[self._key(key)], args=self._args(cost)))  # type: ignore[operator]
        except redis.RedisError:
            logger.warning("rate limit %s: Redis unavailable, allowing", self.name, exc_info=True)
            return Verdict(True, 0.0)

    def reset(self, key: str) -> None:
        """Fills the bucket of `key` again (a missing bucket is a full one)."""
        client = redis_client()
        if client is None:
            self.stores.memory.forget(self._key(key))
            return
        try:
            client.delete(self._key(key))
        except redis.RedisError:
            logger.warning("rate limit %s: Redis unavailable, not reset", self.name, exc_info=True)

    async def atake(self, key: str, cost: int = 1) -> Verdict:
        """As take, without blocking the event loop."""
        if not settings.REDIS_URL:
            return self.stores.memory.take(self._key(key), self.rate, cost)
        client = self.stores.async_client()
        args = [self._key(key), *self._args(cost)]
        try:
            try:
                result = await client.evalsha(TAKE_SCRIPT_SHA, 1, *args)  # type: ignore[misc]
            except redis.exceptions.NoScriptError:
                result = await client.eval(TAKE_SCRIPT, 1, *args)  # type: ignore[misc]
        except redis.RedisError:
            logger.warning("rate limit %s: Redis unavailable, allowing", self.name, exc_info=True)
            return Verdict(True, 0.0)
        return _verdict(result)

    def _args(self, cost: int) -> list[str]:
        return [repr(self.rate.per_second), str(self.rate.burst), str(cost)]
