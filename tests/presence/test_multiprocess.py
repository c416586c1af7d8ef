"""Presence across real daphne processes sharing PostgreSQL and Redis, including a process
killed with SIGKILL that cleans nothing up."""

import asyncio
import contextlib
import json
import os
import signal
import time

import pytest
import websockets

from presence.store import presence_store
from tests.conftest import postgres_env_for_subprocess
from tests.factories import access_token, make_direct, make_user
from tests.servers import daphne, daphne_process

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


async def next_presence(socket, user_id, status, *, wait):
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        left = deadline - asyncio.get_running_loop().time()
        frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=max(left, 0.01)))
        if frame["type"] == "presence" and (frame["user"], frame["status"]) == (user_id, status):
            return frame


def test_users_of_a_killed_process_go_offline_by_themselves(client_for):
    alice, bob = make_user("alice"), make_user("bob")
    make_direct(alice, bob, replied=True)
    env = postgres_env_for_subprocess()
    env["PARLEY_HEARTBEAT_INTERVAL"] = "1"  # entries lapse 2.5 s after their last refresh
    measured = {}

    def url(port, user):
        return f"ws://127.0.0.1:{port}/ws/?token={access_token(user)}"

    async def scenario(doomed, port_a, port_b):
        async with websockets.connect(url(port_b, bob)) as b:
            assert json.loads(await b.recv())["type"] == "ready"

            async def keep_alive():
                while True:
                    await b.send(json.dumps({"type": "ping"}))
                    await asyncio.sleep(0.3)

            pinger = asyncio.create_task(keep_alive())
            try:
                a = await websockets.connect(url(port_a, alice))
                assert json.loads(await a.recv())["type"] == "ready"
                # Online on process A is seen by bob on process B and by anyone reading Redis.
                await next_presence(b, alice.pk, "online", wait=10)
                assert presence_store().states([alice.pk])[alice.pk].online

                os.kill(doomed.pid, signal.SIGKILL)
                doomed.wait()
                killed_at = time.monotonic()
                await next_presence(b, alice.pk, "offline", wait=90)
                measured["offline_after"] = time.monotonic() - killed_at
                assert not presence_store().states([alice.pk])[alice.pk].online
                with contextlib.suppress(Exception):
                    await a.close()
            finally:
                pinger.cancel()

    with daphne_process(env) as (doomed, port_a), daphne(env) as port_b:
        asyncio.run(scenario(doomed, port_a, port_b))
    print(f"offline {measured['offline_after']:.1f} s after kill -9")
    assert measured["offline_after"] < 90
    (state,) = client_for(bob).get(f"/api/presence/?users={alice.pk}").json()["results"]
    assert (state["status"], state["last_seen"] is not None) == ("offline", True)


def test_a_socket_that_only_heartbeats_stays_open():
    """Nothing arrives through the channel layer for longer than its blocking pop (5 s): the
    socket must live on (redis-py 8's default 5 s read timeout used to kill it with 1011)."""
    alice = make_user("alice")
    env = postgres_env_for_subprocess()

    async def scenario(port):
        url = f"ws://127.0.0.1:{port}/ws/?token={access_token(alice)}"
        async with websockets.connect(url) as a:
            assert json.loads(await a.recv())["type"] == "ready"
            for _ in range(8):
                await asyncio.sleep(1)
                await a.send(json.dumps({"type": "ping"}))
                assert json.loads(await asyncio.wait_for(a.recv(), timeout=5))["type"] == "pong"

    with daphne(env) as port:
        asyncio.run(scenario(port))
