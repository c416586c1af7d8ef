"""Scenario: the PostgreSQL primary lost while clients send; its synchronous replica promoted
and PgBouncer switched over to it.

Two Parley processes reach PostgreSQL only through PgBouncer (transaction mode,
DATABASE_PGBOUNCER=1). The primary is stopped at once (`pg_ctl -m immediate`, no shutdown
checkpoint: what a lost machine leaves), and after a detection delay the replica is promoted
(`pg_ctl promote`) and PgBouncer's target rewritten and RELOADed, as a failover script or
Patroni's callback does. Sends during the switch get `unavailable` and are resent with the same
`client_msg_id`; then they succeed; every acked message is on the new primary exactly once (the
replica is synchronous: a commit is acked only once the replica has it), and every member sees
everything. No Parley process is restarted.
"""

import asyncio
import os
import random
import time
from collections import Counter

import pytest

from tests.faults.client import percentiles, until
from tests.faults.conftest import (
    Population,
    check_acked_stored_once,
    check_views,
    server_env,
    views_converged,
)
from tests.faults.harness import DaphneServer, Database, PgBouncer, PostgresPair

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SENDERS = 10
GROUP_SIZE = 5
WINDOW = 5
DETECTION_SECONDS = 7.0  # crash to promotion: longer than PgBouncer's query_wait_timeout (5 s)


def test_primary_failover_by_promotion_costs_only_in_flight_sends(
    tmp_path, private_redis, servers, database, measured
):
    seed = int(os.environ.get("PARLEY_FAULTS_SEED") or random.randrange(1_000_000))
    measured["seed"] = seed
    population = Population(SENDERS, GROUP_SIZE)
    pair = PostgresPair()
    bouncer = None
    try:
        pair.start(database.url)
        bouncer = PgBouncer(pair.root, pair.primary.port).start()
        env = server_env(
            private_redis.url, DATABASE_URL=bouncer.url("parley"), DATABASE_PGBOUNCER="1"
        )
        servers.extend(DaphneServer(env, tmp_path, name=n) for n in ("a", "b"))
        for server in servers:
            server.start()
        clients = asyncio.run(
            scenario(population, servers, pair, bouncer, random.Random(seed), measured)
        )
        new_primary = Database(pair.replica.dsn)
        measured.update(check_acked_stored_once(clients, new_primary))
        measured.update(check_views(clients, new_primary, population.group_of))
    finally:
        for server in servers:
            server.stop()
        if bouncer is not None:
            bouncer.stop()
        pair.stop()


async def scenario(population, servers, pair, bouncer, rng, measured) -> list:
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
            await client.send(conversation, f"f{client.name}-{n}", f"message {n}")
            n += 1
            await asyncio.sleep(rng.uniform(0.2, 0.5))

    streams = asyncio.gather(*(stream(c) for c in clients))
    await asyncio.sleep(4)
    acked_before = sum(len(c.acks) for c in clients)
    errors_before = sum(c.errors["unavailable"] for c in clients)

    # --- the primary's machine is lost; a failover manager promotes the replica ---
    await asyncio.to_thread(pair.primary.crash)
    crashed_at = time.monotonic()
    await asyncio.sleep(DETECTION_SECONDS)
    await asyncio.to_thread(pair.replica.promote)
    await asyncio.to_thread(bouncer.retarget, pair.replica.port)
    switched_at = time.monotonic()
    acked_at_switch = sum(len(c.acks) for c in clients)
    unavailable_during = sum(c.errors["unavailable"] for c in clients) - errors_before

    first_ack_s = await until(
        lambda: sum(len(c.acks) for c in clients) > acked_at_switch,
        within=60,
        what="an ack from the new primary",
    )
    await asyncio.sleep(2)
    stop_streaming.set()
    await streams
    await until(lambda: all(not c.outgoing for c in clients), within=90, what="every ack")
    all_acked_s = time.monotonic() - switched_at
    unavailable_since_crash = sum(c.errors["unavailable"] for c in clients) - errors_before
    assert all(s.alive() for s in servers), "a server process died with the primary"

    # No lasting damage: a fresh round from everyone is acked with no error at all.
    errors_before_round = sum(sum(c.errors.values()) for c in clients)
    for client in clients:
        for n in range(2):
            await client.send(
                population.group_of[int(client.name)], f"after{client.name}-{n}", "after"
            )
    await until(lambda: all(not c.outgoing for c in clients), within=60, what="the fresh round")
    errors_in_round = sum(sum(c.errors.values()) for c in clients) - errors_before_round

    new_primary = Database(pair.replica.dsn)
    await views_converged(clients, population, new_primary)
    await asyncio.sleep(1.0)
    for client in clients:
        await client.stop()

    measured.update(
        {
            "senders": len(clients),
            "detection_s": DETECTION_SECONDS,
            "acked_before_crash": acked_before,
            "unavailable_before_switch": unavailable_during,
            "unavailable_since_crash": unavailable_since_crash,
            "errors": dict(sum((c.errors for c in clients), Counter())),
            "first_ack_after_switch_s": round(first_ack_s, 2),
            "crash_to_switch_s": round(switched_at - crashed_at, 2),
            "all_acked_after_switch_s": round(all_acked_s, 2),
            "errors_in_fresh_round": errors_in_round,
            "ack_latency_s": percentiles([x for c in clients for x in c.ack_latency]),
            "duplicate_acks": sum(c.counts["ack_duplicate"] for c in clients),
            "unexpected_closes": sum(len(c.unexpected_closes()) for c in clients),
        }
    )
    # Sends that waited in PgBouncer longer than its query_wait_timeout were refused, and resent.
    assert unavailable_since_crash > 0, "no send was refused while there was no primary"
    assert errors_in_round == 0
    return clients
