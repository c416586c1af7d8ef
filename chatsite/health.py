"""Liveness, readiness and the Prometheus scrape endpoint.

`/healthz` touches nothing: it answers while the process can serve HTTP. `/readyz` checks what a
request needs (the database, a channel-layer round trip, the cache) and answers 503 naming what
failed, so a load balancer stops sending traffic to a process that cannot serve it. `/metrics`
is for Prometheus only: allowed networks or a bearer token, and only the token for a request
that came through a proxy.
"""

import asyncio
import hmac
import ipaddress
import logging
import uuid
from collections.abc import Awaitable, Callable

import prometheus_client
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import multiprocess

from messaging import partitions
from protection.addresses import came_through_proxy

from . import metrics

logger = logging.getLogger(__name__)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        # The check runs on a throwaway thread: do not leave its connection open.
        connection.close()


def _cache() -> None:
    key = f"parley:readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    try:
        if cache.get(key) != "1":
            raise RuntimeError("the cache did not return what was stored")
    finally:
        cache.delete(key)


async def _channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    # The default "specific." prefix on purpose: channels_redis lets one receiver at a time read
    # the process's specific channels, and it only hands over messages of channels sharing its
    # prefix. With another prefix, a process serving sockets (whose receivers hold that lock)
    # never delivered the ping and /readyz timed out while everything was fine.
    channel = await layer.new_channel()
    nonce = uuid.uuid4().hex
    await layer.send(channel, {"type": "readyz.ping", "nonce": nonce})
    reply = await layer.receive(channel)
    if reply.get("nonce") != nonce:
        raise RuntimeError("the channel layer returned another message")


async def _run(check: Callable[[], Awaitable[None]], seconds: float) -> str:
    try:
        await asyncio.wait_for(check(), seconds)
    except TimeoutError:
        return f"timed out after {seconds:g}s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return "ok"


@never_cache
async def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the channel layer and the cache all answer; else 503."""
    timeout = settings.PARLEY_READYZ_TIMEOUT
    # Blocking checks run on threads of their own, so a hung dependency never holds up the
    # thread that serves the sockets' database hops.
    names = ("database", "channel_layer", "cache")
    results = await asyncio.gather(
        _run(sync_to_async(_database, thread_sensitive=False), timeout),
        _run(_channel_layer, timeout),
        _run(sync_to_async(_cache, thread_sensitive=False), timeout),
    )
    checks = dict(zip(names, results, strict=True))
    failed = [name for name, result in checks.items() if result != "ok"]
    if failed:
        logger.warning("readyz.failed", extra={"failed": failed, "checks": checks})
        return JsonResponse(
            {"status": "unavailable", "failed": failed, "checks": checks}, status=503
        )
    return JsonResponse({"status": "ok", "checks": checks})


def _allowed_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in settings.PARLEY_METRICS_ALLOWED_NETWORKS:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            logger.error("PARLEY_METRICS_ALLOWED_NETWORKS holds %r, not a network", network)
    return False


def _valid_token(request: HttpRequest) -> bool:
    expected = settings.PARLEY_METRICS_TOKEN
    if not expected:
        return False
    kind, _, offered = request.headers.get("Authorization", "").partition(" ")
    return kind.lower() == "bearer" and hmac.compare_digest(offered.strip(), expected)


def _scrape_allowed(request: HttpRequest) -> bool:
    """The token always; the peer's network only for a direct request (no proxy in between)."""
    if _valid_token(request):
        return True
    if came_through_proxy(request.META):
        # Behind a reverse proxy on the same host every client's peer address is loopback, and
        # a forwarded address is only as good as the proxy's configuration: never enough.
        return False
    return _allowed_address(request.META.get("REMOTE_ADDR", ""))


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of this host's processes (multiprocess mode) or this process."""
    if not _scrape_allowed(request):
        return JsonResponse(
            {
                "code": "forbidden",
                "detail": "Metrics are served to the allowed networks (direct requests only) "
                "or with the metrics token.",
            },
            status=403,
        )
    directory = metrics.multiprocess_dir()
    if directory:
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry = prometheus_client.REGISTRY
    # Read from the database now, not from any process's memory (see PartitionsMonthsAhead).
    from_database = prometheus_client.CollectorRegistry(auto_describe=False)
    from_database.register(partitions.partitions_months_ahead)
    return HttpResponse(
        prometheus_client.generate_latest(registry)
        + prometheus_client.generate_latest(from_database),
        content_type=prometheus_client.CONTENT_TYPE_LATEST,
    )
