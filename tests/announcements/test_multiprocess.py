"""An announcement reaches users connected to two real server processes."""

import asyncio
import json

import pytest
import websockets
from channels.db import database_sync_to_async

from announcements.services import announcement_conversation_ensure, broadcast_post
from tests.conftest import postgres_env_for_subprocess
from tests.factories import access_token, make_user, make_users
from tests.servers import daphne

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

db = database_sync_to_async


async def next_of(socket, frame_type: str) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
        if frame["type"] == frame_type:
            return frame


def test_a_broadcast_reaches_users_on_every_process():
    staff = make_user("staff", is_staff=True)
    users = make_users("u1", "u2", "u3", "u4")
    news = announcement_conversation_ensure()
    env = postgres_env_for_subprocess()

    async def scenario(ports: tuple[int, int]) -> None:
        sockets = [
            await websockets.connect(
                f"ws://127.0.0.1:{ports[n % 2]}/ws/?token={access_token(user)}"
            )
            for n, user in enumerate(users)
        ]
        try:
            for socket in sockets:
                ready = await next_of(socket, "ready")
                assert news in [c["id"] for c in ready["conversations"]]
            await db(broadcast_post)(actor=staff, client_msg_id="s1", body="to everyone")
            for socket in sockets:
                frame = await next_of(socket, "message")
                assert frame["conversation"] == news and frame["body"] == "to everyone"
        finally:
            for socket in sockets:
                await socket.close()

    with daphne(env) as port_a, daphne(env) as port_b:
        asyncio.run(scenario((port_a, port_b)))
