"""When the realtime path may have lost a socket's events beyond what a database read repairs,
the socket is closed with 1012 and the loss is counted (realtime/hub.py)."""

import asyncio
import contextlib
import json
import shutil

import pytest
import websockets
from channels.db import database_sync_to_async

import realtime
from chatsite import metrics
from chatsite.asgi import runtime
from chatsite.redis import redis_client
from messaging.services import message_send
from realtime import hub as fanout
from tests.conftest import postgres_env_for_subprocess
from tests.factories import access_token, make_direct, make_users
from tests.servers import daphne, free_port, redis_server
from tests.ws import close_code, ready_socket, receive, receive_nothing

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


def closes(reason: str) -> float:
    return metrics.realtime_loss_closes.labels(reason=reason)._value.get()


async def test_a_per_user_event_that_fails_to_be_handled_does_not_break_the_socket():
    alice, bob = await db(make_users)("alice", "bob")
    on_alice, _ = await ready_socket(alice)
    # A new conversation without its summary: its handling fails, the socket goes on.
    await db(realtime.publish_to_user)(alice.pk, "conversation", {"no": "summary"})
    await db(realtime.publish_to_user)(
        alice.pk, "presence", {"type": "presence", "user": bob.pk, "status": "online"}
    )
    assert (await receive(on_alice, "presence"))["user"] == bob.pk
    await on_alice.send_json_to({"type": "ping"})
    assert await receive(on_alice, "pong") == {"type": "pong"}
    await on_alice.disconnect()


@pytest.mark.postgres
async def test_a_subscription_renewed_on_a_restarted_redis_closes_every_socket_with_1012(
    monkeypatch,
):
    """The same server (run_id) would mean only in-flight events were lost and the sockets heal
    (test_fanout); another one lost the layer's group memberships too, so every socket of the
    process closes, those without conversations included."""
    alice, bob, carol = await db(make_users)("alice", "bob", "carol")
    await db(make_direct)(alice, bob)
    on_bob, _ = await ready_socket(bob)
    on_carol, _ = await ready_socket(carol)  # in no conversation: not subscribed to anything
    hub = runtime.here().hub
    assert all(s.run_id for s in hub.subscriptions.values())

    async def another_server(self, subscription):
        return "a-restarted-redis"

    monkeypatch.setattr(fanout.Hub, "_run_id", another_server)
    before = closes("redis_restarted")
    client = redis_client()
    db_index = client.connection_pool.connection_kwargs.get("db", 0)
    for entry in client.client_list(_type="pubsub"):
        if int(entry.get("db", 0)) == db_index:
            client.client_kill_filter(_id=entry["id"])
    assert await close_code(on_bob, wait=15) == 1012
    assert await close_code(on_carol, wait=15) == 1012
    assert closes("redis_restarted") == before + 2
    await on_bob.disconnect()
    await on_carol.disconnect()


async def close_code_of(socket) -> int | None:
    """Reads (and drops) frames until the server closes the socket; its close code."""
    try:
        while True:
            await asyncio.wait_for(socket.recv(), timeout=30)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


@pytest.mark.postgres
@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
def test_a_redis_restart_closes_the_server_process_sockets_with_1012_and_they_come_back(
    tmp_path,
):
    """A real daphne on a private Redis that is restarted: its sockets close with 1012; a client
    reconnecting afterwards gets ready and, with sync, the message sent meanwhile."""
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    redis_port = free_port()
    env = postgres_env_for_subprocess()
    env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    env.pop("REDIS_SHARD_URLS", None)

    async def scenario(port: int, restart) -> None:
        url = f"ws://127.0.0.1:{port}/ws/?token="
        async with (
            websockets.connect(url + access_token(alice)) as on_alice,
            websockets.connect(url + access_token(bob)) as on_bob,
        ):
            for socket in (on_alice, on_bob):
                assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "ready"
            await asyncio.to_thread(restart)
            for socket in (on_alice, on_bob):
                assert await close_code_of(socket) == 1012
        await asyncio.to_thread(
            message_send, sender=alice, conversation_id=direct.pk, client_msg_id="m", body="after"
        )
        # Realtime resumes: a reconnect is answered with ready, and sync brings the message.
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                async with websockets.connect(url + access_token(bob)) as on_bob:
                    ready = json.loads(await asyncio.wait_for(on_bob.recv(), 10))
                    assert ready["type"] == "ready"
                    await on_bob.send(
                        json.dumps({"type": "sync", "conversation": direct.pk, "after_seq": 0})
                    )
                    frame = json.loads(await asyncio.wait_for(on_bob.recv(), 10))
                    assert frame["type"] == "message" and frame["body"] == "after"
                    return
            except (OSError, websockets.ConnectionClosed, websockets.InvalidStatus):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)

    with contextlib.ExitStack() as stack:
        first = stack.enter_context(redis_server(redis_port, tmp_path))
        port = stack.enter_context(daphne(env))

        def restart() -> None:
            # The same port, an empty server with a new run_id: as after a crash.
            first.terminate()
            first.wait(timeout=10)
            stack.enter_context(redis_server(redis_port, tmp_path))

        asyncio.run(scenario(port, restart))


def _kill_pubsub_connections() -> int:
    client = redis_client()
    db_index = client.connection_pool.connection_kwargs.get("db", 0)
    killed = 0
    for entry in client.client_list(_type="pubsub"):
        if int(entry.get("db", 0)) == db_index:
            client.client_kill_filter(_id=entry["id"])
            killed += 1
    return killed


@pytest.mark.postgres
async def test_a_group_joined_while_the_subscription_was_down_still_reaches_the_socket(
    monkeypatch,
):
    """The same Redis server: only what was published during the break is lost. The
    `conversation` event telling bob he was added to a group is one of those (stored, never
    published here): his socket learns of the group anyway, and gets its messages live."""
    import realtime.publish
    from groups.services import group_create

    alice, bob = await db(make_users)("alice", "bob")
    socket, _ = await ready_socket(bob)
    # Stored, its event lost (as if published while the subscription was down); then the
    # break that the hub notices.
    monkeypatch.setattr(realtime.publish, "_publish_to_topics", lambda *args: None)
    group = await db(group_create)(creator=alice, name="Made meanwhile", member_ids=[bob.pk])
    assert await receive_nothing(socket, wait=0.5)
    assert _kill_pubsub_connections() >= 1
    frame = await receive(socket, "conversation")
    assert frame["conversation"]["id"] == group.pk
    assert frame["conversation"]["title"] == "Made meanwhile"
    monkeypatch.undo()
    await db(message_send)(sender=alice, conversation_id=group.pk, client_msg_id="g", body="hi")
    message = await receive(socket, "message")
    assert (message["conversation"], message["body"]) == (group.pk, "hi")
    await socket.disconnect()


@pytest.mark.postgres
async def test_a_ban_missed_during_a_subscription_break_still_closes_the_socket(monkeypatch):
    import realtime.publish
    from moderation.services import user_ban

    moderator, bob = await db(make_users)("moderator", "bob")
    socket, _ = await ready_socket(bob)
    monkeypatch.setattr(realtime.publish, "_publish_to_topics", lambda *args: None)
    await db(user_ban)(actor=moderator, user=bob, reason="spam")
    assert await receive_nothing(socket, wait=0.5)
    assert _kill_pubsub_connections() >= 1
    assert await close_code(socket, wait=15) == 4403
    await socket.disconnect()
