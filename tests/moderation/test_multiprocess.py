"""Removal and bans across real server processes sharing PostgreSQL and the Redis layer."""

import asyncio
import json
import time

import pytest
import websockets
from channels.db import database_sync_to_async

from groups.services import group_member_remove
from messaging.services import message_send
from moderation.services import user_ban
from tests.conftest import postgres_env_for_subprocess
from tests.factories import access_token, make_group, make_user, make_users
from tests.servers import daphne

# Closes its database connection after each call (CONN_MAX_AGE is 0 in tests), so the test
# database can be dropped at the end.
db = database_sync_to_async

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def url(port, user):
    return f"ws://127.0.0.1:{port}/ws/?token={access_token(user)}"


async def next_of(socket, frame_type: str, wait: float = 10) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=wait))
        if frame["type"] == frame_type:
            return frame


async def silent(socket, seconds: float) -> list[dict]:
    """Every frame the socket receives in the next `seconds`."""
    got = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            got.append(json.loads(await asyncio.wait_for(socket.recv(), timeout=left)))
        except TimeoutError:
            break
    return got


def test_removed_member_on_another_process_receives_nothing_more():
    owner, bob, carol = make_users("owner", "bob", "carol")
    group = make_group(owner, bob, carol)
    env = postgres_env_for_subprocess()

    async def scenario(port_a: int, port_b: int) -> None:
        async with (
            websockets.connect(url(port_a, bob)) as bob_a,
            websockets.connect(url(port_b, bob)) as bob_b,
            websockets.connect(url(port_b, carol)) as carol_b,
        ):
            for socket in (bob_a, bob_b, carol_b):
                await next_of(socket, "ready")
            # What the connections themselves cause (carol coming online is told to bob, who
            # shares the group with her) arrives before the removal, not into the silence below.
            await asyncio.gather(silent(bob_a, 1.5), silent(bob_b, 1.5))
            await db(group_member_remove)(actor=owner, group_id=group.pk, user_id=bob.pk)
            for socket in (bob_a, bob_b):
                left = await next_of(socket, "conversation_left")
                assert left["conversation"] == group.pk
            for n in range(3):
                await db(message_send)(
                    sender=owner,
                    conversation_id=group.pk,
                    client_msg_id=f"after-{n}",
                    body=f"after {n}",
                )
            seen = [await next_of(carol_b, "message") for _ in range(4)]
            assert [m["body"] for m in seen][1:] == ["after 0", "after 1", "after 2"]
            assert await silent(bob_a, 1.0) == []
            assert await silent(bob_b, 0.2) == []

    with daphne(env) as port_a, daphne(env) as port_b:
        asyncio.run(scenario(port_a, port_b))


def test_a_ban_closes_sockets_on_every_process_with_4403():
    moderator = make_user("mod", is_staff=True)
    alice, bob = make_users("alice", "bob")
    env = postgres_env_for_subprocess()

    async def scenario(port_a: int, port_b: int) -> None:
        async with (
            websockets.connect(url(port_a, alice)) as on_a,
            websockets.connect(url(port_b, alice)) as on_b,
            websockets.connect(url(port_b, bob)) as bob_b,
        ):
            for socket in (on_a, on_b, bob_b):
                await next_of(socket, "ready")
            token = access_token(alice)
            started = time.monotonic()
            await db(user_ban)(actor=moderator, user=alice, reason="abuse")
            for socket in (on_a, on_b):
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await next_of(socket, "never", wait=5)
                assert closed.value.rcvd.code == 4403
            assert time.monotonic() - started < 5
            await bob_b.send(json.dumps({"type": "ping"}))
            assert (await next_of(bob_b, "pong"))["type"] == "pong"
            async with websockets.connect(f"ws://127.0.0.1:{port_a}/ws/?token={token}") as again:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await next_of(again, "ready", wait=5)
                assert closed.value.rcvd.code == 4401

    with daphne(env) as port_a, daphne(env) as port_b:
        asyncio.run(scenario(port_a, port_b))
