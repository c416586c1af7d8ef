"""Scenario 1: a server process is killed (-9) mid-stream.

Clients stream 1,000 messages through two daphne processes; one is killed at a random moment.
Its clients reconnect to the other, resend what was not acked (same client_msg_id) and sync.
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
from tests.faults.harness import DaphneServer

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SENDERS = 20
GROUP_SIZE = 5
MESSAGES = 1000
WINDOW = 5  # unacked messages a client has in flight at most


def test_kill_9_of_one_server_mid_stream_loses_and_doubles_nothing(
    tmp_path, private_redis, servers, database, measured
):
    seed = int(os.environ.get("PARLEY_FAULTS_SEED") or random.randrange(1_000_000))
    rng = random.Random(seed)
    measured["seed"] = seed
    population = Population(SENDERS, GROUP_SIZE)
    env = server_env(private_redis.url)
    servers.extend(DaphneServer(env, tmp_path, name=n) for n in ("a", "b"))
    for server in servers:
        server.start()
    victim, survivor = servers
    urls = [s.ws for s in servers]

    async def scenario() -> list:
        clients = population.clients(urls, rng=random.Random(rng.random()))
        for client in clients:
            client.start()
        await until(lambda: all(c.connected.is_set() for c in clients), within=60, what="ready")
        per_client = MESSAGES // len(clients)
        started = time.monotonic()

        async def stream(client) -> None:
            conversation = population.group_of[int(client.name)]
            for n in range(per_client):
                await client.room(WINDOW)
                await client.send(conversation, f"k{client.name}-{n}", f"message {n}")
                await asyncio.sleep(rng.uniform(0.1, 0.4))

        streams = asyncio.gather(*(stream(c) for c in clients))
        kill_after = rng.uniform(3.0, 9.0)
        await asyncio.sleep(kill_after)
        on_victim = [c for c in clients if c.sessions and c.sessions[-1].url == victim.ws and c.ws]
        acked_before = sum(len(c.acks) for c in clients)
        in_flight = sum(len(c.outgoing) for c in clients)
        victim.kill9()
        killed_at = time.monotonic()
        await streams
        sent_seconds = time.monotonic() - started

        def all_acked() -> bool:
            return all(not c.outgoing for c in clients)

        acked_seconds = await until(all_acked, within=120, what="every message acked")

        await views_converged(clients, population, database)
        await asyncio.sleep(1.0)  # a late duplicate would land here
        reconnects = [
            min(s.opened for s in c.sessions if s.opened > killed_at) - killed_at
            for c in on_victim
            if any(s.opened > killed_at for s in c.sessions)
        ]
        for client in clients:
            await client.stop()

        assert on_victim, "no client was on the killed process"
        assert len(reconnects) == len(on_victim), "a client of the killed process never came back"
        assert survivor.alive()
        measured.update(
            {
                "messages": MESSAGES,
                "senders": len(clients),
                "killed_after_s": round(kill_after, 2),
                "acked_before_kill": acked_before,
                "in_flight_at_kill": in_flight,
                "clients_on_killed_process": len(on_victim),
                "reconnect_s": percentiles(reconnects),
                "stream_s": round(sent_seconds, 2),
                "all_acked_after_stream_s": round(acked_seconds, 2),
                "ack_latency_s": percentiles([x for c in clients for x in c.ack_latency]),
                "duplicate_acks": sum(c.counts["ack_duplicate"] for c in clients),
                "duplicate_frames_dropped": sum(c.counts["duplicate_frames"] for c in clients),
                "gaps_seen": sum(c.counts["gaps"] for c in clients),
                "syncs": sum(c.counts["syncs"] for c in clients),
                "errors": dict(sum((c.errors for c in clients), Counter())),
            }
        )
        return clients

    clients = asyncio.run(scenario())
    measured.update(check_acked_stored_once(clients, database))
    assert measured["acked"] == MESSAGES
    assert measured["stored"] == MESSAGES
    measured.update(check_views(clients, database, population.group_of))
