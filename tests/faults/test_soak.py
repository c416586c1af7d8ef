"""Scenario 6: soak. 1,000 sockets heart-beating with low chat traffic.

No unexpected disconnect; server RSS flat after warm-up (slope under 5% over the run);
PostgreSQL connections bounded by the servers' thread pools; Redis clients flat; presence,
channel-layer group keys and fan-out subscriptions gone once everyone has left.

Two lengths: the regular faults run soaks for PARLEY_FAULTS_SOAK_SECONDS (default 90); the
long soak (`-m soak`, deselected unless asked for) for PARLEY_SOAK_SECONDS (default 600).
"""

import asyncio
import os
import random
import time
from collections import Counter

import pytest

from tests.faults.client import connect_gradually, until
from tests.faults.conftest import (
    Population,
    check_acked_stored_once,
    check_views,
    server_env,
    views_converged,
)
from tests.faults.harness import DaphneServer

SOCKETS = int(os.environ.get("PARLEY_FAULTS_SOCKETS", 1000))
GROUP_SIZE = 20
HEARTBEAT = 10  # seconds: several heartbeats (and presence refreshes) even in a short soak
MESSAGES_PER_SECOND = 2.0
SAMPLE_EVERY = 5.0
LEAVE_BATCH = 25  # sockets closed per second at the end
CLEANUP_WITHIN = 60.0
SERVERS = 2
# Each server process holds at most one connection per thread that touches the database: the
# single thread of the sockets' hops plus asyncio's default pool (readyz, views).
THREADS_PER_SERVER = 1 + min(32, (os.cpu_count() or 1) + 4)


def slope_share(samples: list[tuple[float, float]]) -> float:
    """The least-squares slope over the run, as a share of the mean (0.05 = grew 5%)."""
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    slope = sum((t - mean_t) * (v - mean_v) for t, v in samples) / var
    return slope * (samples[-1][0] - samples[0][0]) / mean_v


@pytest.mark.faults
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_short_soak(tmp_path, private_redis, servers, database, measured):
    seconds = float(os.environ.get("PARLEY_FAULTS_SOAK_SECONDS", 90))
    soak(seconds, tmp_path, private_redis, servers, database, measured)


@pytest.mark.soak
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(3600)
def test_long_soak(tmp_path, private_redis, servers, database, measured):
    seconds = float(os.environ.get("PARLEY_SOAK_SECONDS", 600))
    soak(seconds, tmp_path, private_redis, servers, database, measured)


def soak(seconds, tmp_path, private_redis, servers, database, measured) -> None:
    seed = int(os.environ.get("PARLEY_FAULTS_SEED") or random.randrange(1_000_000))
    rng = random.Random(seed)
    warm_up = max(15.0, seconds * 0.2)
    measured.update({"seed": seed, "sockets": SOCKETS, "soak_s": seconds, "warm_up_s": warm_up})
    population = Population(SOCKETS, GROUP_SIZE)
    env = server_env(private_redis.url, PARLEY_HEARTBEAT_INTERVAL=str(HEARTBEAT))
    servers.extend(DaphneServer(env, tmp_path, name=f"s{n}") for n in range(SERVERS))
    for server in servers:
        server.start()
    db_name = database.url.rsplit("/", 1)[1]

    def clients_by_command() -> dict[str, int]:
        with private_redis.client() as r:
            return dict(Counter(c.get("cmd", "?") for c in r.client_list()))

    async def scenario() -> list:
        clients = population.clients([s.ws for s in servers], rng=random.Random(rng.random()))
        measured["connect_s"] = round(await connect_gradually(clients), 2)
        started = time.monotonic()
        rss: dict[str, list[tuple[float, float]]] = {s.name: [] for s in servers}
        pg: list[int] = []
        redis_clients: list[tuple[float, int]] = []
        sent = 0

        async def chat() -> None:
            nonlocal sent
            while True:
                await asyncio.sleep(1 / MESSAGES_PER_SECOND)
                client = rng.choice(clients)
                await client.send(
                    population.group_of[int(client.name)], f"soak-{sent}", f"soak {sent}"
                )
                sent += 1

        chatter = asyncio.create_task(chat())
        while (now := time.monotonic() - started) < seconds:
            await asyncio.sleep(SAMPLE_EVERY)
            now = time.monotonic() - started
            for server in servers:
                rss[server.name].append((now, server.rss_kib()))
            pg.append(await asyncio.to_thread(database.backends, db_name))
            redis_clients.append((now, await asyncio.to_thread(private_redis.connected_clients)))
        chatter.cancel()
        await until(lambda: all(not c.outgoing for c in clients), within=60, what="every ack")
        await views_converged(clients, population, database)
        unexpected = sum(len(c.unexpected_closes()) for c in clients)
        # Everyone leaves, at the pace they came (a mass leave is the storm's business).
        left_started = time.monotonic()
        for n, client in enumerate(clients):
            await client.stop()
            if n % LEAVE_BATCH == LEAVE_BATCH - 1:
                await asyncio.sleep(1.0)
        measured["leave_s"] = round(time.monotonic() - left_started, 2)

        after = {
            name: [(t, v) for t, v in samples if t >= warm_up] for name, samples in rss.items()
        }
        steady_redis = [v for t, v in redis_clients if t >= warm_up]
        measured.update(
            {
                "messages_sent": sent,
                "pings": sum(c.counts["ping"] for c in clients),
                "unexpected_disconnects": unexpected,
                "rss_kib_first_last": {n: [s[0][1], s[-1][1]] for n, s in rss.items()},
                "rss_slope_share_after_warm_up": {
                    n: round(slope_share(s), 4) for n, s in after.items()
                },
                "postgres_connections_max": max(pg),
                "postgres_connections_bound": SERVERS * THREADS_PER_SERVER + 1,
                "redis_clients_after_warm_up_min_max": [min(steady_redis), max(steady_redis)],
                "redis_clients_series": [v for _, v in redis_clients],
                "redis_clients_by_command": await asyncio.to_thread(clients_by_command),
            }
        )
        assert unexpected == 0
        for name, share in measured["rss_slope_share_after_warm_up"].items():
            assert share < 0.05, f"server {name} RSS grew {share:.1%} after warm-up"
        # +1: the test's own connection (pytest-django's) to the same database.
        assert max(pg) <= SERVERS * THREADS_PER_SERVER + 1, pg
        assert max(steady_redis) - min(steady_redis) <= max(2, 0.05 * max(steady_redis))

        # Everyone has left: nothing of theirs may stay in Redis.
        def leftovers() -> dict[str, int]:
            with private_redis.client() as r:
                return {
                    "presence_connections": len(private_redis.keys("parley:presence:conns:*")),
                    "presence_announced": r.zcard("parley:presence:announced"),
                    "group_keys": len(private_redis.keys("parley:group:*")),
                    "fanout_channels": len(r.pubsub_channels("parley.conv.*")),
                }

        measured["consumers_killed_by_daphne"] = sum(
            s.log_count("took too long to shut down and was killed") for s in servers
        )

        cleaned_s = None
        cleanup_started = time.monotonic()
        deadline = cleanup_started + CLEANUP_WITHIN
        while cleaned_s is None:
            left = await asyncio.to_thread(leftovers)
            if not any(left.values()):
                cleaned_s = time.monotonic() - cleanup_started
            else:
                if time.monotonic() > deadline:
                    names = await asyncio.to_thread(private_redis.keys, "parley:group:*")
                    raise AssertionError(f"left behind in Redis: {left} {names[:5]}")
                await asyncio.sleep(0.5)
        measured["redis_clean_after_leave_s"] = round(cleaned_s, 2)
        return clients

    clients = asyncio.run(scenario())
    measured.update(check_acked_stored_once(clients, database))
    measured.update(check_views(clients, database, population.group_of))
