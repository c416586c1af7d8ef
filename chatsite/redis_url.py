"""The one place that reads a Redis address and builds every kind of client from it.

A Redis address is either a plain redis-py URL (`redis://host:6379/0`, `rediss://...`,
`unix://...`), used as before, or a Sentinel address:

    redis+sentinel://[[user]:password@]host1:26379,host2:26379,host3:26379/<master name>/<db>

The sentinels are asked for the current primary of `<master name>` (`db` defaults to 0); the
password, when given, is the Redis servers' and the sentinels' alike (one `requirepass` across
the set, the usual deployment). Every client built here follows a failover by itself: redis-py's
Sentinel-managed connections ask the sentinels again whenever a connection breaks, and refuse a
server that has become a replica.

Users of this module (settings, chatsite.redis, chatsite.cache, the realtime fan-out, the rate
limiter) never parse a URL themselves. No Django settings are read here, so settings.py can use
it too (channel layer hosts, the Celery broker).
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379


class RedisUrlError(ValueError):
    """A Redis address this module cannot read (raised at start-up, from settings)."""


@dataclasses.dataclass(frozen=True)
class SentinelTarget:
    """Where a Sentinel-managed Redis is: the sentinels, the primary's name and the database."""

    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None

    def connection_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"db": self.db}
        if self.password is not None:
            kwargs["password"] = self.password
        if self.username:
            kwargs["username"] = self.username
        return kwargs

    def sentinel_kwargs(self) -> dict[str, Any]:
        """How to talk to the sentinels themselves (short timeouts: a dead sentinel is skipped)."""
        kwargs: dict[str, Any] = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
        if self.password is not None:
            kwargs["password"] = self.password
        if self.username:
            kwargs["username"] = self.username
        return kwargs


def is_sentinel(url: str) -> bool:
    return url.startswith(f"{SCHEME}://")


def parse_sentinel(url: str) -> SentinelTarget:
    """Reads a `redis+sentinel://` address; RedisUrlError says what is wrong with it."""
    if not is_sentinel(url):
        raise RedisUrlError(f"not a {SCHEME}:// address: {url!r}")
    rest = url[len(SCHEME) + 3 :]
    netloc, _, path = rest.partition("/")
    username = password = None
    if "@" in netloc:
        credentials, _, netloc = netloc.rpartition("@")
        user, colon, secret = credentials.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    sentinels = []
    for entry in netloc.split(","):
        if not entry:
            continue
        parsed = urlsplit(f"//{entry}")
        if not parsed.hostname:
            raise RedisUrlError(f"a sentinel without a host in {url!r}")
        try:
            port = parsed.port or DEFAULT_SENTINEL_PORT
        except ValueError:
            raise RedisUrlError(f"a sentinel with a bad port in {url!r}") from None
        sentinels.append((parsed.hostname, port))
    if not sentinels:
        raise RedisUrlError(f"no sentinel in {url!r}")
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if not parts:
        raise RedisUrlError(f"no master name in {url!r} (…/<master name>/<db>)")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise RedisUrlError(f"the path of {url!r} must be /<master name>[/<db>]")
    return SentinelTarget(
        sentinels=tuple(sentinels),
        master_name=unquote(parts[0]),
        db=int(parts[1]) if len(parts) == 2 else 0,
        username=username,
        password=password,
    )


def validate(url: str) -> str:
    """Returns `url` when it is a Redis address this module can use; raises otherwise."""
    if is_sentinel(url):
        parse_sentinel(url)
    elif urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise RedisUrlError(f"not a Redis address: {url!r}")
    return url


def db_index(url: str) -> int:
    """The database number an address selects (`redis://h:6379/3` → 3, `?db=3`, a Sentinel
    address's `/<master>/<db>`); 0 when it names none."""
    if is_sentinel(url):
        return parse_sentinel(url).db
    parts = urlsplit(url)
    for key, value in parse_qsl(parts.query):
        if key == "db" and value.isdigit():
            return int(value)
    path = parts.path.strip("/") if parts.scheme in ("redis", "rediss") else ""
    return int(path) if path.isdigit() else 0


def split_urls(raw: str) -> list[str]:
    """A comma-separated list of Redis addresses (REDIS_SHARD_URLS), where a Sentinel address
    has commas of its own: a piece without a scheme continues the address before it."""
    urls: list[str] = []
    for piece in (p.strip() for p in raw.split(",")):
        if not piece:
            continue
        if "://" not in piece and urls:
            urls[-1] = f"{urls[-1]},{piece}"
        else:
            urls.append(piece)
    return urls


def sync_client(url: str, **options: Any) -> redis.Redis:
    """A redis-py client of `url`'s primary; `options` go to its connections and pool."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **options)
    target = parse_sentinel(url)
    sentinel = redis.sentinel.Sentinel(
        list(target.sentinels), sentinel_kwargs=target.sentinel_kwargs()
    )
    return sentinel.master_for(target.master_name, **target.connection_kwargs(), **options)


def sync_pool(url: str, **options: Any) -> redis.ConnectionPool:
    """The connection pool of `sync_client(url)` (Django's cache client takes pools)."""
    return sync_client(url, **options).connection_pool


def async_client(url: str, **options: Any) -> redis.asyncio.Redis:
    """An asyncio client of `url`'s primary (its connections belong to the running loop)."""
    if not is_sentinel(url):
        return redis.asyncio.Redis.from_url(url, **options)
    target = parse_sentinel(url)
    sentinel = redis.asyncio.sentinel.Sentinel(
        list(target.sentinels), sentinel_kwargs=target.sentinel_kwargs()
    )
    return sentinel.master_for(target.master_name, **target.connection_kwargs(), **options)


def channel_layer_host(url: str, **options: Any) -> dict[str, Any]:
    """A `hosts` entry of channels_redis's RedisChannelLayer (its own Sentinel support)."""
    if not is_sentinel(url):
        return {"address": url, **options}
    target = parse_sentinel(url)
    return {
        "sentinels": list(target.sentinels),
        "master_name": target.master_name,
        "sentinel_kwargs": target.sentinel_kwargs(),
        **target.connection_kwargs(),
        **options,
    }


def celery_broker(url: str) -> tuple[str, dict[str, Any]]:
    """kombu's broker URL for `url` and the transport options it needs: a Sentinel address
    becomes kombu's `sentinel://h1:p1;sentinel://h2:p2/<db>` with `master_name`."""
    if not is_sentinel(url):
        return url, {}
    target = parse_sentinel(url)
    auth = ""
    if target.password is not None:
        auth = f"{target.username or ''}:{target.password}@"
    broker = ";".join(
        f"sentinel://{auth}{host}:{port}/{target.db}" for host, port in target.sentinels
    )
    options: dict[str, Any] = {"master_name": target.master_name}
    if target.password is not None:
        options["sentinel_kwargs"] = {"password": target.password}
    return broker, options


def describe(url: str) -> str:
    """`url` without its password, for logs and /readyz."""
    if is_sentinel(url):
        target = parse_sentinel(url)
        hosts = ",".join(f"{h}:{p}" for h, p in target.sentinels)
        return f"{SCHEME}://{hosts}/{target.master_name}/{target.db}"
    parsed = urlsplit(url)
    if parsed.password is None:
        return url
    return url.replace(f":{parsed.password}@", ":***@", 1)
