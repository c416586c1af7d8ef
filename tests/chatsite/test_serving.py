"""daphne as Parley runs it (chatsite/serving.py): registered close codes, graceful SIGTERM."""

import asyncio
import json
import signal
import time

import pytest
import websockets

from messaging.models import Message
from tests.conftest import postgres_env_for_subprocess
from tests.factories import access_token, make_direct, make_users
from tests.servers import daphne_process

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# The bound for a server process to exit after SIGTERM.
EXIT_BOUND = 10.0


def test_sigterm_closes_every_socket_with_1001_loses_no_acked_message_and_exits_in_time():
    """Clients send without pause over three sockets; SIGTERM arrives mid-stream. Every socket
    is closed with 1001 (not dropped), every acked message is stored, the process exits within
    the bound (the daphne process also runs the production connection pool)."""
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    env = postgres_env_for_subprocess()
    env.pop("DB_POOL_MAX_SIZE", None)
    acked: list[str] = []
    codes: list[int | None] = []

    async def stream(url: str, name: str, started: asyncio.Event) -> None:
        async with websockets.connect(url) as socket:
            assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "ready"
            try:
                for n in range(100_000):
                    client_msg_id = f"{name}-{n}"
                    await socket.send(
                        json.dumps(
                            {
                                "type": "send",
                                "conversation": direct.pk,
                                "client_msg_id": client_msg_id,
                                "body": client_msg_id,
                            }
                        )
                    )
                    while True:
                        frame = json.loads(await asyncio.wait_for(socket.recv(), 30))
                        if frame["type"] == "ack" and frame["client_msg_id"] == client_msg_id:
                            acked.append(client_msg_id)
                            break
                    if len(acked) >= 30:
                        started.set()
            except websockets.ConnectionClosed as closed:
                codes.append(closed.rcvd.code if closed.rcvd else None)

    async def scenario(process, port: int) -> float:
        url = f"ws://127.0.0.1:{port}/ws/?token="
        started = asyncio.Event()
        streams = [
            asyncio.create_task(stream(url + access_token(user), name, started))
            for user, name in ((alice, "a1"), (alice, "a2"), (bob, "b1"))
        ]
        await asyncio.wait_for(started.wait(), timeout=60)
        sent_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*streams), timeout=60)
        await asyncio.to_thread(process.wait, EXIT_BOUND + 5)
        return time.monotonic() - sent_at

    with daphne_process(env) as (process, port):
        took = asyncio.run(scenario(process, port))
        assert process.returncode is not None
    print(f"SIGTERM to exit: {took:.2f} s; {len(acked)} messages acked before it")
    assert codes == [1001, 1001, 1001]
    assert took < EXIT_BOUND
    stored = set(
        Message.objects.filter(conversation_id=direct.pk, client_msg_id__in=acked).values_list(
            "client_msg_id", flat=True
        )
    )
    assert stored == set(acked)
    # Exactly once each: nothing stored twice either.
    assert Message.objects.filter(conversation_id=direct.pk).count() == len(
        set(Message.objects.filter(conversation_id=direct.pk).values_list("client_msg_id"))
    )
