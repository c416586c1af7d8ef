"""PostgreSQL briefly unreachable for a real daphne process (through a proxy the test cuts):
`send` is answered `unavailable`, never acked; REST answers 503 JSON; the process recovers by
itself, with the production connection settings (the connection pool, health checks)."""

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
import websockets
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError

from messaging.models import Message
from tests.conftest import postgres_env_for_subprocess
from tests.factories import access_token, make_direct, make_users
from tests.proxy import cuttable_proxy
from tests.servers import daphne
from tests.ws import ready_socket, receive

pytestmark = pytest.mark.django_db(transaction=True)


def rest_send(port: int, token: str, conversation: int, client_msg_id: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/conversations/{conversation}/messages/",
        data=json.dumps({"client_msg_id": client_msg_id, "body": client_msg_id}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def answer(socket, client_msg_id: str) -> dict:
    """The ack or error frame for this client_msg_id (other frames are passed over)."""
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), 30))
        if frame["type"] == "ack" and frame["client_msg_id"] == client_msg_id:
            return frame
        if frame["type"] == "error" and frame.get("ref") == client_msg_id:
            return frame


async def send(socket, conversation: int, client_msg_id: str) -> dict:
    await socket.send(
        json.dumps(
            {
                "type": "send",
                "conversation": conversation,
                "client_msg_id": client_msg_id,
                "body": client_msg_id,
            }
        )
    )
    return await answer(socket, client_msg_id)


@pytest.mark.postgres
def test_sends_during_a_database_outage_are_refused_and_the_process_recovers_by_itself():
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    db = settings.DATABASES["default"]
    env = postgres_env_for_subprocess()
    env.pop("DB_POOL_MAX_SIZE", None)  # production's default: the connection pool
    token = access_token(alice)
    measured: dict[str, float] = {}

    with cuttable_proxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))) as proxy:
        env["DATABASE_URL"] = f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}"

        async def scenario(port: int) -> None:
            url = f"ws://127.0.0.1:{port}/ws/?token={token}"
            async with websockets.connect(url) as socket:
                assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "ready"
                assert (await send(socket, direct.pk, "before"))["type"] == "ack"

                await asyncio.to_thread(proxy.cut)
                refused = await send(socket, direct.pk, "during")
                assert refused["type"] == "error", refused
                assert refused["code"] == "unavailable"
                status, body = await asyncio.to_thread(
                    rest_send, port, token, direct.pk, "rest-during"
                )
                assert status == 503, body
                assert body["code"] == "unavailable"
                # A new socket cannot be authenticated now: closed with 1013, try again later.
                async with websockets.connect(url) as late:
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await asyncio.wait_for(late.recv(), 30)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1013

                await asyncio.to_thread(proxy.restore)
                restored = time.monotonic()
                # The client resends the refused message (same client_msg_id) until acked.
                while (frame := await send(socket, direct.pk, "during"))["type"] != "ack":
                    assert frame["code"] == "unavailable", frame
                    assert time.monotonic() - restored < 30, "no recovery within 30 s"
                    await asyncio.sleep(0.2)
                measured["recovered"] = time.monotonic() - restored
                # And no lasting errors: every later send is acked at the first try.
                for n in range(10):
                    assert (await send(socket, direct.pk, f"after-{n}"))["type"] == "ack"
                status, body = await asyncio.to_thread(
                    rest_send, port, token, direct.pk, "rest-after"
                )
                assert status == 201, body

        with daphne(env) as port:
            asyncio.run(scenario(port))

    print(f"first ack {measured['recovered']:.2f} s after the database came back")
    stored = list(
        Message.objects.filter(conversation_id=direct.pk)
        .order_by("seq")
        .values_list("client_msg_id", flat=True)
    )
    assert stored == ["before", "during", *(f"after-{n}" for n in range(10)), "rest-after"]


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_rest_send_answers_503_json_when_the_database_fails(error, client_for, monkeypatch):
    """InterfaceError ("connection already closed") is not a DatabaseError; both are 503."""
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)

    def failing(**kwargs):
        raise error("the database went away")

    monkeypatch.setattr("messaging.api.views.message_send", failing)
    response = client_for(alice).post(
        f"/api/conversations/{direct.pk}/messages/",
        {"client_msg_id": "c1", "body": "hi"},
        format="json",
    )
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
async def test_a_socket_send_is_answered_unavailable_when_the_database_fails(error, monkeypatch):
    alice, bob = await database_sync_to_async(make_users)("alice", "bob")
    direct = await database_sync_to_async(make_direct)(alice, bob)

    def failing(requests):
        raise error("the database went away")

    # The gateway's sends are stored in batches: the whole batch fails, each sender hears it.
    monkeypatch.setattr("gateway.runtime.message_send_many", failing)
    socket, _ = await ready_socket(alice)
    await socket.send_json_to(
        {"type": "send", "conversation": direct.pk, "client_msg_id": "c1", "body": "hi"}
    )
    frame = await receive(socket)
    assert (frame["type"], frame["code"], frame["ref"]) == ("error", "unavailable", "c1")
    await socket.disconnect()
