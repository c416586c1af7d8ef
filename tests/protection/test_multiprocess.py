"""Protection state is shared by every server process (two real daphnes, PostgreSQL + Redis)."""

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
import websockets
from django.db import connection

from protection.services import blacklist_add
from tests.conftest import postgres_env_for_subprocess
from tests.factories import access_token, make_direct, make_user
from tests.servers import daphne

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def http_status(port: int, path: str = "/") -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5):
            return 200
    except urllib.error.HTTPError as exc:
        return exc.code


def blacklist_from_a_thread(network: str) -> None:
    try:
        blacklist_add(network=network, reason="test")
    finally:
        connection.close()  # the thread's own connection would outlive the test database


async def frame(socket, frame_type: str) -> dict:
    while True:
        got = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
        if got["type"] == frame_type:
            return got


def test_blacklisting_closes_sockets_and_refuses_requests_on_every_process():
    alice = make_user("alice")
    env = {**postgres_env_for_subprocess(), "PARLEY_IP_LISTS_REFRESH": "1"}

    async def scenario(port_a: int, port_b: int) -> None:
        token = access_token(alice)
        async with (
            websockets.connect(f"ws://127.0.0.1:{port_a}/ws/?token={token}") as on_a,
            websockets.connect(f"ws://127.0.0.1:{port_b}/ws/?token={token}") as on_b,
        ):
            await frame(on_a, "ready")
            await frame(on_b, "ready")
            started = time.monotonic()
            await asyncio.to_thread(blacklist_from_a_thread, "127.0.0.0/8")
            for socket in (on_a, on_b):
                await asyncio.wait_for(socket.wait_closed(), timeout=10)
                assert socket.close_code == 4403
            assert time.monotonic() - started < 10
        for port in (port_a, port_b):
            deadline = time.monotonic() + 10
            while await asyncio.to_thread(http_status, port) != 403:
                assert time.monotonic() < deadline, "the blacklist never applied"
                await asyncio.sleep(0.2)
            assert await asyncio.to_thread(http_status, port, "/api/me/") == 403
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(f"ws://127.0.0.1:{port}/ws/?token={token}"):
                    pass
            assert refused.value.response.status_code == 403

    with daphne(env) as port_a, daphne(env) as port_b:
        asyncio.run(scenario(port_a, port_b))


def test_rate_limits_are_shared_by_every_process():
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    env = {
        **postgres_env_for_subprocess(),
        "PARLEY_RATE_WS_SEND": "1/m:3",
        "PARLEY_RATE_WS_HANDSHAKE": "1/m:3",
    }

    async def scenario(port_a: int, port_b: int) -> None:
        token = access_token(alice)
        async with (
            websockets.connect(f"ws://127.0.0.1:{port_a}/ws/?token={token}") as on_a,
            websockets.connect(f"ws://127.0.0.1:{port_b}/ws/?token={token}") as on_b,
        ):
            await frame(on_a, "ready")
            await frame(on_b, "ready")
            answers = []
            for n, socket in enumerate([on_a, on_b, on_a, on_b]):
                await socket.send(
                    json.dumps(
                        {"type": "send", "conversation": direct.pk, "client_msg_id": f"m{n}"}
                        | {"body": "hi"}
                    )
                )
                while (got := json.loads(await asyncio.wait_for(socket.recv(), 10)))[
                    "type"
                ] not in {"ack", "error"}:
                    pass
                answers.append(got.get("code", got["type"]))
            assert answers == ["ack", "ack", "ack", "rate_limited"]
            # Two handshakes used above, one left for the address across both processes.
            async with websockets.connect(f"ws://127.0.0.1:{port_b}/ws/?token={token}") as third:
                await frame(third, "ready")
            async with websockets.connect(f"ws://127.0.0.1:{port_a}/ws/?token={token}") as fourth:
                await asyncio.wait_for(fourth.wait_closed(), timeout=10)
                assert fourth.close_code == 4429

    with daphne(env) as port_a, daphne(env) as port_b:
        asyncio.run(scenario(port_a, port_b))
