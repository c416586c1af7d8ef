"""Two real daphne processes sharing PostgreSQL and the Redis channel layer."""

import asyncio
import json

import pytest
import websockets

from tests.conftest import postgres_env_for_subprocess
from tests.factories import access_token, make_direct, make_group, make_user
from tests.servers import daphne

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


async def next_of(socket, frame_type: str, conversation: int | None = None) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=5))
        if frame["type"] == frame_type and conversation in (None, frame.get("conversation")):
            return frame


def test_a_message_sent_to_one_process_reaches_a_client_on_the_other():
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    direct = make_direct(alice, bob)
    group = make_group(alice, bob, carol)
    env = postgres_env_for_subprocess()

    async def scenario(port_a: int, port_b: int) -> None:
        def url(port, user):
            return f"ws://127.0.0.1:{port}/ws/?token={access_token(user)}"

        async with (
            websockets.connect(url(port_a, alice)) as on_a,
            websockets.connect(url(port_b, bob)) as on_b,
            websockets.connect(url(port_b, carol)) as carol_on_b,
        ):
            for socket in (on_a, on_b, carol_on_b):
                await next_of(socket, "ready")
            await on_a.send(
                json.dumps(
                    {
                        "type": "send",
                        "conversation": direct.pk,
                        "client_msg_id": "x1",
                        "body": "across",
                    }
                )
            )
            ack = await next_of(on_a, "ack")
            got = await next_of(on_b, "message")
            assert got["body"] == "across" and got["id"] == ack["id"]

            await on_b.send(
                json.dumps(
                    {
                        "type": "send",
                        "conversation": group.pk,
                        "client_msg_id": "g1",
                        "body": "to all",
                    }
                )
            )
            assert (await next_of(on_a, "message", group.pk))["body"] == "to all"
            assert (await next_of(carol_on_b, "message", group.pk))["body"] == "to all"

    with daphne(env) as port_a, daphne(env) as port_b:
        asyncio.run(scenario(port_a, port_b))
