"""Where presence lives: per-connection entries that expire by themselves.

Each live socket is an entry (its channel name) with an expiry time, refreshed by the socket's
heartbeat. A user is online while one of their entries has not expired, on any process. Entries
of a process that dies without cleaning up simply lapse; `sweep` finds the users whose last entry
lapsed so they can be announced offline once.

PostgreSQL + Redis: a sorted set per user (entry -> expiry), a sorted set of users announced
online (user -> latest expiry) and a hash of last-seen times, changed only by Lua scripts so
every transition happens exactly once across processes. Embedded default: the same in process
memory under a lock (one process holds every socket).
"""

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from django.apps import apps

from chatsite.redis import redis_client

KEY_PREFIX = "parley:presence:"
CONNECTIONS = KEY_PREFIX + "conns:"  # + user id: zset entry -> expiry
ANNOUNCED = KEY_PREFIX + "announced"  # zset user id -> latest expiry of an announced user
LAST_SEEN = KEY_PREFIX + "last_seen"  # hash user id -> epoch seconds
THROTTLE = "parley:throttle:"


@dataclass(frozen=True)
class PresenceState:
    online: bool
    last_seen: float | None


class PresenceStore(Protocol):
    def alive(self, *, user_id: int, entry: str, ttl: float, create: bool = True) -> bool | None:
        """Adds (or, with create=False, only refreshes) an entry; True when this made an
        offline user online, None when create=False found no entry to refresh."""

    def leave(self, *, user_id: int, entry: str) -> bool:
        """Removes an entry; True when this made an online user offline."""

    def sweep(self, *, limit: int) -> list[int]:
        """Users whose last entry lapsed, now marked offline (each returned once)."""

    def states(self, user_ids: list[int]) -> dict[int, PresenceState]: ...

    def throttle(self, key: str, seconds: float) -> bool:
        """True at most once per `seconds` per key (across processes)."""


_ALIVE = """
local conns, announced, seen = KEYS[1], KEYS[2], KEYS[3]
local entry, now, expiry, ttl_ms, user = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
if ARGV[6] == '0' and not redis.call('ZSCORE', conns, entry) then return -1 end
redis.call('ZADD', conns, expiry, entry)
redis.call('PEXPIRE', conns, ttl_ms)
redis.call('HSET', seen, user, now)
local was = redis.call('ZSCORE', announced, user)
redis.call('ZADD', announced, 'GT', expiry, user)
if was then return 0 end
return 1
"""

_LEAVE = """
local conns, announced, seen = KEYS[1], KEYS[2], KEYS[3]
local entry, now, user = ARGV[1], ARGV[2], ARGV[3]
redis.call('ZREM', conns, entry)
redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
if redis.call('ZCARD', conns) > 0 then return 0 end
if redis.call('ZREM', announced, user) == 1 then
  redis.call('HSET', seen, user, now)
  return 1
end
return 0
"""

# Users announced online whose latest known expiry has passed: offline if no entry is left,
# else their announced expiry moves up to the entries they still have.
_SWEEP = """
local announced, prefix = KEYS[1], ARGV[3]
local due = redis.call('ZRANGEBYSCORE', announced, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local gone = {}
for _, user in ipairs(due) do
  local conns = prefix .. user
  redis.call('ZREMRANGEBYSCORE', conns, '-inf', ARGV[1])
  local latest = redis.call('ZRANGE', conns, -1, -1, 'WITHSCORES')
  if #latest == 0 then
    redis.call('ZREM', announced, user)
    table.insert(gone, user)
  else
    redis.call('ZADD', announced, latest[2], user)
  end
end
return gone
"""


class RedisPresenceStore:
    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self._alive = client.register_script(_ALIVE)
        self._leave = client.register_script(_LEAVE)
        self._sweep = client.register_script(_SWEEP)

    def alive(self, *, user_id: int, entry: str, ttl: float, create: bool = True) -> bool | None:
        now = time.time()
        keys = [f"{CONNECTIONS}{user_id}", ANNOUNCED, LAST_SEEN]
        args = [entry, now, now + ttl, int(ttl * 1000) + 1000, user_id, int(create)]
        result = self._alive(keys=keys, args=args)
        return None if result == -1 else bool(result)

    def leave(self, *, user_id: int, entry: str) -> bool:
        keys = [f"{CONNECTIONS}{user_id}", ANNOUNCED, LAST_SEEN]
        return bool(self._leave(keys=keys, args=[entry, time.time(), user_id]))

    def sweep(self, *, limit: int) -> list[int]:
        gone = self._sweep(keys=[ANNOUNCED], args=[time.time(), limit, CONNECTIONS])
        return [int(user) for user in gone]

    def states(self, user_ids: list[int]) -> dict[int, PresenceState]:
        if not user_ids:
            return {}
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.zcount(f"{CONNECTIONS}{user_id}", f"({now}", "+inf")
        pipe.hmget(LAST_SEEN, user_ids)
        *counts, seen = pipe.execute()
        return {
            user_id: PresenceState(
                online=count > 0, last_seen=float(last) if last is not None else None
            )
            for user_id, count, last in zip(user_ids, counts, seen, strict=True)
        }

    def throttle(self, key: str, seconds: float) -> bool:
        return bool(self.client.set(THROTTLE + key, 1, nx=True, px=max(1, int(seconds * 1000))))


class MemoryPresenceStore:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connections: dict[int, dict[str, float]] = {}
        self.announced: set[int] = set()
        self.last_seen: dict[int, float] = {}
        self.throttles: dict[str, float] = {}

    def _live(self, user_id: int, now: float) -> dict[str, float]:
        entries = self.connections.get(user_id, {})
        for entry in [e for e, expiry in entries.items() if expiry <= now]:
            del entries[entry]
        return entries

    def alive(self, *, user_id: int, entry: str, ttl: float, create: bool = True) -> bool | None:
        now = time.time()
        with self.lock:
            if entry not in self._live(user_id, now) and not create:
                return None
            self.connections.setdefault(user_id, {})[entry] = now + ttl
            self.last_seen[user_id] = now
            if user_id in self.announced:
                return False
            self.announced.add(user_id)
            return True

    def leave(self, *, user_id: int, entry: str) -> bool:
        now = time.time()
        with self.lock:
            entries = self._live(user_id, now)
            entries.pop(entry, None)
            if entries:
                return False
            self.connections.pop(user_id, None)
            if user_id not in self.announced:
                return False
            self.announced.discard(user_id)
            self.last_seen[user_id] = now
            return True

    def sweep(self, *, limit: int) -> list[int]:
        now = time.time()
        gone: list[int] = []
        with self.lock:
            for user_id in list(self.announced):
                if len(gone) >= limit:
                    break
                if not self._live(user_id, now):
                    self.connections.pop(user_id, None)
                    self.announced.discard(user_id)
                    gone.append(user_id)
        return gone

    def states(self, user_ids: list[int]) -> dict[int, PresenceState]:
        now = time.time()
        with self.lock:
            return {
                user_id: PresenceState(
                    online=bool(self._live(user_id, now)), last_seen=self.last_seen.get(user_id)
                )
                for user_id in user_ids
            }

    def throttle(self, key: str, seconds: float) -> bool:
        now = time.time()
        with self.lock:
            if self.throttles.get(key, 0.0) > now:
                return False
            if len(self.throttles) > 10_000:
                self.throttles = {k: t for k, t in self.throttles.items() if t > now}
            self.throttles[key] = now + seconds
            return True

    def clear(self) -> None:
        with self.lock:
            self.connections.clear()
            self.announced.clear()
            self.last_seen.clear()
            self.throttles.clear()


def presence_store() -> PresenceStore:
    client = redis_client()
    if client is None:
        # The embedded default's, built once at start-up (PresenceConfig.ready).
        memory: MemoryPresenceStore = apps.get_app_config("presence").memory_store  # type: ignore[attr-defined]
        return memory
    # Building one is local (its scripts' SHA-1s, no round trip): cheaper than a registry of
    # clients to keep valid.
    return RedisPresenceStore(client)
