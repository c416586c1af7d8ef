"""Scenario 3: PostgreSQL unreachable for 10 s while clients send.

The servers reach PostgreSQL through a loopback TCP proxy; cutting it refuses new connections
and drops the open ones, as a stopped database does (the shared PostgreSQL itself is never
touched). No message may be acked without being stored, `send` must answer `unavailable`,
REST 503, and the processes must recover by themselves once the database is back.
"""

import asyncio
import json
import os
import random
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
from django.conf import settings

from tests.faults.client import percentiles, until
from tests.faults.conftest import (
    Population,
    check_acked_stored_once,
    check_views,
    server_env,
    views_converged,
)
from tests.faults.harness import DaphneServer, TcpProxy

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SENDERS = 10
GROUP_SIZE = 5
OUTAGE_SECONDS = float(os.environ.get("PARLEY_FAULTS_OUTAGE_SECONDS", 10))
WINDOW = 5


def rest_send(server: DaphneServer, token: str, conversation: int, client_msg_id: str) -> int:
    request = urllib.request.Request(  # noqa: S310 (loopback test server)
        f"{server.http}/api/conversations/{conversation}/messages/",
        data=json.dumps({"client_msg_id": client_msg_id, "body": "over rest"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_postgres_outage_acks_nothing_unsaved_and_recovers_by_itself(
    tmp_path, private_redis, servers, database, measured
):
    seed = int(os.environ.get("PARLEY_FAULTS_SEED") or random.randrange(1_000_000))
    rng = random.Random(seed)
    measured["seed"] = seed
    population = Population(SENDERS, GROUP_SIZE)
    db = settings.DATABASES["default"]
    proxy = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)).start()
    proxied = f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}"
    env = server_env(private_redis.url, DATABASE_URL=proxied)
    servers.extend(DaphneServer(env, tmp_path, name=n) for n in ("a", "b"))
    try:
        for server in servers:
            server.start()
        clients = asyncio.run(scenario(population, servers, proxy, database, rng, measured))
    finally:
        proxy.close()
    measured.update(check_acked_stored_once(clients, database))
    measured.update(check_views(clients, database, population.group_of))


async def scenario(population, servers, proxy, database, rng, measured) -> list:
    urls = [s.ws for s in servers]
    clients = population.clients(urls, rng=random.Random(rng.random()))
    for client in clients:
        client.start()
    await until(lambda: all(c.connected.is_set() for c in clients), within=60, what="ready")
    rest_user = population.users[0]
    rest_conversation = population.group_of[rest_user.pk]
    stop_streaming = asyncio.Event()

    async def stream(client) -> None:
        conversation = population.group_of[int(client.name)]
        n = 0
        while not stop_streaming.is_set():
            await client.room(WINDOW)
            await client.send(conversation, f"p{client.name}-{n}", f"message {n}")
            n += 1
            await asyncio.sleep(rng.uniform(0.2, 0.5))

    streams = asyncio.gather(*(stream(c) for c in clients))
    await asyncio.sleep(4)
    acked_before = sum(len(c.acks) for c in clients)

    # --- the outage ---
    proxy.cut()
    cut_at = time.monotonic()
    errors_before = sum(c.errors["unavailable"] for c in clients)
    readyz_during: list[int] = []
    while time.monotonic() - cut_at < OUTAGE_SECONDS:
        status, _ = await asyncio.to_thread(servers[0].readyz)
        readyz_during.append(status)
        await asyncio.sleep(1.0)
    rest_status_during = await asyncio.to_thread(
        rest_send, servers[1], population.tokens[rest_user.pk], rest_conversation, "rest-1"
    )
    acks_during = {
        (c.name, cmid) for c in clients for cmid in c.acks
    }  # includes acks from before the cut; only the final DB check can judge them
    unavailable_during = sum(c.errors["unavailable"] for c in clients) - errors_before
    first_unavailable = {c.name: c.errors["unavailable"] for c in clients}
    proxy.restore()
    restored_at = time.monotonic()

    # --- recovery: everything queued or refused during the outage gets acked ---
    def acked_after_restore() -> int:
        return sum(len(c.acks) for c in clients) - len(acks_during)

    first_ack_s = await until(lambda: acked_after_restore() > 0, within=60, what="an ack")
    stop_streaming.set()
    await streams
    await until(lambda: all(not c.outgoing for c in clients), within=90, what="every message acked")
    all_acked_at = time.monotonic()
    readyz_bodies: list[dict] = []

    def ready_again() -> bool:
        status, body = servers[0].readyz()
        if status != 200:
            readyz_bodies.append(body)
        return status == 200

    readyz_back_s = await _until_threaded(ready_again, within=30, what="readyz 200 again")
    rest_status_after = await asyncio.to_thread(
        rest_send, servers[1], population.tokens[rest_user.pk], rest_conversation, "rest-2"
    )
    rest_repeat = await asyncio.to_thread(
        rest_send, servers[1], population.tokens[rest_user.pk], rest_conversation, "rest-2"
    )

    # A message refused during the outage, resent again by hand after recovery: stored once.
    refused = next(c for c in clients if first_unavailable[c.name])
    refused_id = next(iter(refused.acks))
    ack = refused.acks[refused_id]
    duplicates_before = refused.counts["ack_duplicate"]
    await refused.send(ack["conversation"], refused_id, "again")
    await until(lambda: not refused.outgoing, within=30, what="the repeat's ack")
    assert refused.counts["ack_duplicate"] == duplicates_before + 1

    # No lasting damage: a fresh round from everyone is acked with no error at all.
    errors_before_round = sum(sum(c.errors.values()) for c in clients)
    for client in clients:
        for n in range(3):
            await client.send(
                population.group_of[int(client.name)], f"after{client.name}-{n}", "after"
            )
    await until(lambda: all(not c.outgoing for c in clients), within=60, what="the fresh round")
    errors_after_round = sum(sum(c.errors.values()) for c in clients) - errors_before_round

    await views_converged(clients, population, database)
    await asyncio.sleep(1.0)
    for client in clients:
        await client.stop()

    measured.update(
        {
            "outage_s": OUTAGE_SECONDS,
            "senders": len(clients),
            "acked_before_outage": acked_before,
            "unavailable_errors_during_outage": unavailable_during,
            "errors": dict(sum((c.errors for c in clients), Counter())),
            "readyz_during_outage": sorted(set(readyz_during)),
            "readyz_200_again_after_all_acked_s": round(readyz_back_s, 2),
            "readyz_failures_after_restore": readyz_bodies[:3],
            "rest_send_during_outage": rest_status_during,
            "rest_send_after": [rest_status_after, rest_repeat],
            "first_ack_after_restore_s": round(first_ack_s, 2),
            "all_acked_after_restore_s": round(all_acked_at - restored_at, 2),
            "errors_in_fresh_round": errors_after_round,
            "ack_latency_s": percentiles([x for c in clients for x in c.ack_latency]),
            "duplicate_acks": sum(c.counts["ack_duplicate"] for c in clients),
            "syncs": sum(c.counts["syncs"] for c in clients),
            "unexpected_closes": sum(len(c.unexpected_closes()) for c in clients),
        }
    )
    assert unavailable_during > 0, "no send was refused while the database was away"
    assert set(readyz_during) == {503}, readyz_during
    assert rest_status_during == 503
    assert (rest_status_after, rest_repeat) == (201, 200)
    assert errors_after_round == 0
    return clients


async def _until_threaded(check, *, within: float, what: str) -> float:
    started = time.monotonic()
    while not await asyncio.to_thread(check):
        if time.monotonic() - started > within:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(0.5)
    return time.monotonic() - started
