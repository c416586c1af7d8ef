"""Scenario: Redis behind Sentinel, its primary killed (-9) while 20 clients stream.

One Redis primary, one replica, three of Debian's redis-sentinel; two Parley processes and a
Celery worker configured only through `redis+sentinel://` (channel layer, fan-out, cache, rate
limits, presence, broker). After the kill the sentinels must promote the replica within their
timeout, realtime must resume (a probe reaches every member of its group) within 15 s of the
promotion, no process may need a restart, a Celery task sent after the failover must run, and
every acked message must be stored once and seen by every member.
"""

import asyncio
import os
import random
import time
from collections import Counter

import pytest
from celery import Celery

from chatsite import redis_url
from tests.faults.client import percentiles, until
from tests.faults.conftest import (
    Population,
    check_acked_stored_once,
    check_views,
    server_env,
    views_converged,
)
from tests.faults.harness import DaphneServer, RedisInstance, SentinelSet
from tests.workers import CeleryWorker

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CLIENTS = 20
GROUP_SIZE = 5
WINDOW = 5
RESUME_WITHIN = 15.0  # after the new primary is known
LIVE_WITHIN = 1.0
TASK = "uploads.tasks.uploads_prune_unattached"  # harmless, and its success is logged


@pytest.fixture
def sentinel_redis(tmp_path):
    primary = RedisInstance(tmp_path)
    primary.start()
    replica = RedisInstance(tmp_path, replica_of=primary.port)
    replica.start()
    sentinels = SentinelSet(tmp_path, primary.port)
    try:
        sentinels.start()
        yield primary, replica, sentinels
    finally:
        sentinels.stop()
        replica.stop()
        primary.stop()


def task_sender(url: str) -> Celery:
    broker, options = redis_url.celery_broker(url)
    # Not the process's current app: a Celery app becomes it by default, and every later
    # `shared_task.delay()` of the test process then went to this scenario's dead sentinels
    # (every test after this one that used a real worker failed in CI: its tasks never came).
    app = Celery("faults-sender", broker=broker, set_as_current=False)
    app.conf.broker_transport_options = options
    return app


def test_sentinel_failover_resumes_realtime_and_loses_nothing(
    tmp_path, sentinel_redis, servers, database, measured
):
    primary, replica, sentinels = sentinel_redis
    seed = int(os.environ.get("PARLEY_FAULTS_SEED") or random.randrange(1_000_000))
    measured["seed"] = seed
    population = Population(CLIENTS, GROUP_SIZE)
    url = sentinels.url(0)
    env = server_env(url, PARLEY_READYZ_TIMEOUT="1")
    servers.extend(DaphneServer(env, tmp_path, name=n) for n in ("a", "b"))
    for server in servers:
        server.start()
    worker = CeleryWorker(env, name="ha").start()
    sender = task_sender(url)
    try:
        clients = asyncio.run(
            scenario(
                population,
                servers,
                (primary, replica, sentinels),
                worker,
                sender,
                database,
                random.Random(seed),
                measured,
            )
        )
    finally:
        sender.close()
        worker.stop()
    measured.update(check_acked_stored_once(clients, database))
    measured.update(check_views(clients, database, population.group_of))


def task_ran(worker: CeleryWorker, task_id: str) -> bool:
    return any(task_id in line and "succeeded" in line for line in worker.output)


async def scenario(population, servers, redis_set, worker, sender, database, rng, measured):
    primary, replica, sentinels = redis_set
    before = sender.send_task(TASK).id
    await until(lambda: task_ran(worker, before), within=30, what="a task before the failover")
    clients = population.clients([s.ws for s in servers], rng=random.Random(rng.random()))
    for client in clients:
        client.start()
    await until(lambda: all(c.connected.is_set() for c in clients), within=60, what="ready")
    stop_streaming = asyncio.Event()

    async def stream(client) -> None:
        conversation = population.group_of[int(client.name)]
        n = 0
        while not stop_streaming.is_set():
            await client.room(WINDOW)
            await client.send(conversation, f"s{client.name}-{n}", f"message {n}")
            n += 1
            await asyncio.sleep(rng.uniform(0.2, 0.5))

    prober = clients[0]
    streams = asyncio.gather(*(stream(c) for c in clients if c is not prober))
    await asyncio.sleep(3)
    acked_before = sum(len(c.acks) for c in clients)
    sessions_before = {c.name: len(c.sessions) for c in clients}

    # --- the primary's machine is lost ---
    primary.kill()
    killed_at = time.monotonic()
    await until(
        lambda: sentinels.primary_port_now() == replica.port,
        within=30,
        what="the sentinels promoting the replica",
        step=0.1,
    )
    promoted_at = time.monotonic()
    assert replica.role() == "master"
    assert all(s.alive() for s in servers), "a server process died with the Redis primary"

    # --- realtime resumes: a probe reaches every member of its group within LIVE_WITHIN ---
    conversation = population.group_of[int(prober.name)]
    members = [c for c in clients if population.group_of[int(c.name)] == conversation]
    resumed_s = None
    probes = 0
    while resumed_s is None:
        assert time.monotonic() - promoted_at < RESUME_WITHIN, "realtime did not resume in 15 s"
        probe = f"probe-{probes}"
        probes += 1
        await prober.send(conversation, probe, "probe")
        try:
            await until(lambda p=probe: p in prober.acks, within=3, what="probe ack")
        except AssertionError:
            continue
        ack = prober.acks[probe]
        try:
            await until(
                lambda a=ack: all(a["seq"] in m.held.get(conversation, {}) for m in members),
                within=LIVE_WITHIN,
                what="probe delivery",
                step=0.02,
            )
            resumed_s = time.monotonic() - promoted_at
        except AssertionError:
            await asyncio.sleep(0.3)

    after = sender.send_task(TASK).id
    task_s = await until(lambda: task_ran(worker, after), within=30, what="a task after it")

    stop_streaming.set()
    await streams
    await until(lambda: all(not c.outgoing for c in clients), within=60, what="every ack")
    await views_converged(clients, population, database)
    await asyncio.sleep(1.0)
    for client in clients:
        await client.stop()

    closed = [
        s
        for c in clients
        for s in c.sessions[sessions_before[c.name] - 1 :]
        if s.closed is not None and not s.by_client
    ]
    measured.update(
        {
            "clients": len(clients),
            "sentinels": len(sentinels.ports),
            "sentinel_down_after_ms": sentinels.down_after_ms,
            "acked_before_kill": acked_before,
            "new_primary_after_kill_s": round(promoted_at - killed_at, 2),
            "realtime_resumed_after_promotion_s": round(resumed_s, 2),
            "probes_until_live": probes,
            "celery_task_after_failover_s": round(task_s, 2),
            "close_codes": {str(k): v for k, v in Counter(s.code for s in closed).items()},
            "errors": dict(sum((c.errors for c in clients), Counter())),
            "ack_latency_s": percentiles([x for c in clients for x in c.ack_latency]),
            "duplicate_acks": sum(c.counts["ack_duplicate"] for c in clients),
            "syncs": sum(c.counts["syncs"] for c in clients),
            "server_restarts": 0,
            "server_log_1012": sum(s.log_count('"close_code": 1012') for s in servers),
        }
    )
    assert promoted_at - killed_at < 30
    assert all(s.alive() for s in servers)
    return clients
