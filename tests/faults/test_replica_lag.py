"""Scenario: a read replica that lags (its replay paused) under a Parley process configured
with DATABASE_REPLICA_URLS.

A private primary with a streaming replica made by pg_basebackup, each on its own port. Once
the replica has caught up, its replay is paused (`pg_wal_replay_pause()`); then a member sends.
History pages read from the replica lag for the other members, but the sender's own message is
in their history at once (its reads wait for the replica to replay their write, and go to the
primary meanwhile), `sync` is complete (it never reads a replica), and once replay resumes the
others' history catches up.
"""

import asyncio
import json
import random
import time
import urllib.request

import pytest

from tests.faults.client import until
from tests.faults.conftest import (
    Population,
    check_acked_stored_once,
    check_views,
    server_env,
    views_converged,
)
from tests.faults.harness import DaphneServer, Database, PostgresPair

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MEMBERS = 5


def history(server: DaphneServer, token: str, conversation: int) -> dict:
    """The newest page of a conversation's REST history, as that user sees it."""
    request = urllib.request.Request(  # noqa: S310 (loopback test server)
        f"{server.http}/api/conversations/{conversation}/messages/?limit=100",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return json.loads(answer.read())


def test_a_lagging_replica_serves_history_but_never_hides_a_users_own_message(
    tmp_path, private_redis, servers, database, measured
):
    population = Population(MEMBERS, MEMBERS)
    pair = PostgresPair()
    try:
        started = time.monotonic()
        pair.start(database.url)
        measured["pair_ready_s"] = round(time.monotonic() - started, 2)
        env = server_env(
            private_redis.url,
            DATABASE_URL=pair.primary.url(),
            DATABASE_REPLICA_URLS=pair.replica.url(),
        )
        servers.append(DaphneServer(env, tmp_path, name="a"))
        servers[0].start()
        primary = Database(pair.primary.dsn)
        clients = asyncio.run(scenario(population, servers[0], pair, primary, measured))
        measured.update(check_acked_stored_once(clients, primary))
        measured.update(check_views(clients, primary, population.group_of))
    finally:
        for server in servers:
            server.stop()
        pair.stop()


async def scenario(population, server, pair, primary, measured) -> list:
    (conversation,) = population.groups
    clients = population.clients([server.ws], rng=random.Random(7))
    writer, reader = clients[0], clients[1]
    for client in clients[:-1]:  # the last member comes later, to sync from nothing
        client.start()
    await until(lambda: all(c.connected.is_set() for c in clients[:-1]), within=30, what="ready")
    for client in clients[:-1]:
        for n in range(2):
            await client.send(conversation, f"l{client.name}-{n}", f"before {n}")
    await until(lambda: all(not c.outgoing for c in clients), within=30, what="the first acks")
    await until(pair.caught_up, within=30, what="the replica catching up")

    # --- replay paused: the replica stops moving ---
    pair.replica.execute("SELECT pg_wal_replay_pause()")
    await until(
        lambda: pair.replica.execute("SELECT pg_get_wal_replay_pause_state()") == [("paused",)],
        within=10,
        what="replay paused",
    )
    await writer.send(conversation, "own-1", "my own message")
    await until(lambda: "own-1" in writer.acks, within=10, what="the ack")
    own = writer.acks["own-1"]
    lag_bytes = pair.primary.execute(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint",
        (pair.replica.execute("SELECT pg_last_wal_replay_lsn()::text")[0][0],),
    )[0][0]

    asked = time.monotonic()
    writers_page = await asyncio.to_thread(
        history, server, population.tokens[int(writer.name)], conversation
    )
    writer_read_s = time.monotonic() - asked
    readers_page = await asyncio.to_thread(
        history, server, population.tokens[int(reader.name)], conversation
    )
    assert own["id"] in [m["id"] for m in writers_page["results"]], "own message missing"
    assert writers_page["last_seq"] == own["seq"]
    assert own["id"] not in [m["id"] for m in readers_page["results"]], "the replica did not lag"
    assert readers_page["last_seq"] < own["seq"]

    # `sync` never reads a replica: a member connecting now gets everything, the paused
    # replica notwithstanding; the others hold the message live.
    late = clients[-1]
    late.start()
    await views_converged(clients, population, primary, within=30)
    assert pair.replica.execute("SELECT pg_get_wal_replay_pause_state()") == [("paused",)]

    # --- replay resumed: the others' history catches up ---
    pair.replica.execute("SELECT pg_wal_replay_resume()")
    resumed = time.monotonic()

    def reader_sees_it() -> bool:
        page = history(server, population.tokens[int(reader.name)], conversation)
        return page["last_seq"] == own["seq"]

    while not await asyncio.to_thread(reader_sees_it):
        assert time.monotonic() - resumed < 30, "the replica did not catch up"
        await asyncio.sleep(0.1)
    caught_up_s = time.monotonic() - resumed
    for client in clients:
        await client.stop()

    measured.update(
        {
            "members": len(clients),
            "replica_lag_bytes_at_read": lag_bytes,
            "writer_history_has_own_message": True,
            "writer_history_read_s": round(writer_read_s, 3),
            "reader_history_last_seq_while_paused": readers_page["last_seq"],
            "primary_last_seq": own["seq"],
            "late_member_synced_complete": True,
            "reader_history_caught_up_after_resume_s": round(caught_up_s, 2),
        }
    )
    return clients
