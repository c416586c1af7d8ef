"""Frame size limits on a real daphne: Parley's own limit, then daphne's (autobahn's) hard one."""

import asyncio
import json

import pytest
import websockets

from tests.conftest import postgres_env_for_subprocess
from tests.factories import access_token, make_user
from tests.servers import daphne

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_oversized_frames_get_too_large_and_giant_ones_end_the_connection():
    alice = make_user("alice")

    async def scenario(port: int) -> None:
        url = f"ws://127.0.0.1:{port}/ws/?token={access_token(alice)}"
        async with websockets.connect(url, max_size=None) as socket:
            assert json.loads(await socket.recv())["type"] == "ready"
            await socket.send("x" * (64 * 1024 + 1))
            error = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert error["code"] == "too_large"
            await socket.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"type": "pong"}
            # Past daphne's --websocket-max-message-size (1 MiB by default) autobahn fails the
            # connection itself before the application sees the frame: it drops the TCP
            # connection (autobahn's failByDrop), so the client sees 1006 rather than 1009.
            await socket.send("x" * (1024 * 1024 + 1))
            await asyncio.wait_for(socket.wait_closed(), 10)
            assert socket.close_code in {1006, 1009}

    with daphne(postgres_env_for_subprocess()) as port:
        asyncio.run(scenario(port))
