"""The SDK keeps the delivery promise against a real server: a server that dies or restarts,
an ack lost with its connection, a live frame lost on the way, a token that stops working."""

import asyncio

import pytest
from parley_client import AuthenticationFailed, Client, Message, ParleyError

from tests.clients.conftest import account, until
from tests.clients.frameproxy import FrameProxy

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 60


def collect(client: Client) -> list[Message]:
    got: list[Message] = []
    client.on(lambda event: got.append(event) if isinstance(event, Message) else None)
    return got


async def stored(account, conversation: int) -> list[Message]:
    return [m async for m in account.rest.iter_history(conversation)]


async def test_a_server_killed_and_restarted_twice_loses_and_doubles_nothing(fresh_server):
    """kill -9 mid-stream, then a graceful restart (1001): the sender's unacked sends are resent
    with their client_msg_id, the receiver syncs after each ready; every message is stored once
    and reaches the receiver exactly once."""
    base = fresh_server.http
    alice, bob = await account(base, "alice"), await account(base, "bob")
    conversation = (await alice.rest.direct(bob.id))["id"]
    sender = Client(base, alice.token, backoff_base=0.1, backoff_cap=1.0)
    receiver = Client(base, bob.token, backoff_base=0.1, backoff_cap=1.0)
    received = collect(receiver)
    clients = (sender, receiver)
    await sender.connect(timeout=WAIT)
    await receiver.connect(timeout=WAIT)

    acks = []
    for n in range(45):
        acks.append(await sender.submit(conversation, f"m{n}", client_msg_id=f"resume-{n}"))
        if n == 15:
            await asyncio.to_thread(fresh_server.kill9)
            await asyncio.to_thread(fresh_server.start)
        if n == 30:
            # Both back on the restarted server first (on a loaded machine their backoff
            # could still be running here, and the graceful stop would then close nothing).
            await until(
                lambda: all(len(c.sessions) >= 2 and c.sessions[-1].ready for c in clients),
                "both clients ready again after the kill",
            )
            await asyncio.to_thread(fresh_server.stop)  # SIGTERM: sockets closed with 1001
            await asyncio.to_thread(fresh_server.start)
        await asyncio.sleep(0.02)
    answered = await asyncio.wait_for(asyncio.gather(*acks), WAIT)
    await until(lambda: receiver.position(conversation) >= 45, "the receiver caught up")
    await asyncio.sleep(0.5)  # a late duplicate would land here

    assert sorted(a.seq for a in answered) == list(range(1, 46))
    assert sorted(m.seq for m in received) == list(range(1, 46))  # each once, none missing
    assert [m.client_msg_id for m in sorted(received, key=lambda m: m.seq)] == [
        a.client_msg_id for a in sorted(answered, key=lambda a: a.seq)
    ]
    history = await stored(alice, conversation)
    assert sorted(m.client_msg_id for m in history) == sorted(f"resume-{n}" for n in range(45))
    for client in (sender, receiver):
        codes = [s.code for s in client.unexpected_closes()]
        assert 1006 in codes and 1001 in codes, codes
        assert len(client.sessions) >= 3
    await sender.close()
    await receiver.close()
    for account_ in (alice, bob):
        await account_.rest.close()


async def test_an_ack_lost_with_its_connection_is_resent_and_stored_once(server):
    """The message is stored, then its ack and the connection are lost: the SDK resends the
    same client_msg_id after reconnecting and gets the original back as a duplicate."""
    alice, bob = await account(server.http, "alice"), await account(server.http, "bob")
    conversation = (await alice.rest.direct(bob.id))["id"]
    proxy = await FrameProxy(server.port).start()
    client = Client(proxy.url, alice.token, compression=None, backoff_base=0.05, backoff_cap=0.2)
    await client.connect(timeout=WAIT)
    proxy.drop_next(lambda f: f.get("type") == "ack", then_cut=True)

    ack = await asyncio.wait_for(client.send(conversation, "once", client_msg_id="once-1"), WAIT)

    assert proxy.dropped and proxy.dropped[0]["client_msg_id"] == "once-1"
    assert ack.duplicate is True
    assert client.stats["send_frames"] == 2
    assert len(client.sessions) == 2
    history = await stored(alice, conversation)
    assert [m.client_msg_id for m in history] == ["once-1"]
    assert ack.id == history[0].id and ack.seq == history[0].seq
    await client.close()
    await proxy.close()
    await alice.rest.close()
    await bob.rest.close()


async def test_a_live_message_lost_on_the_way_is_repaired_by_sync(server):
    """The receiver's copy of message 2 is lost while the socket stays up; message 3 reveals
    the gap; the SDK syncs and delivers 2, each message once, on the same connection."""
    alice, bob = await account(server.http, "alice"), await account(server.http, "bob")
    conversation = (await alice.rest.direct(bob.id))["id"]
    proxy = await FrameProxy(server.port).start()
    sender = Client(server.http, alice.token)
    receiver = Client(proxy.url, bob.token, compression=None)
    received = collect(receiver)
    await sender.connect(timeout=WAIT)
    await receiver.connect(timeout=WAIT)
    proxy.drop_next(lambda f: f.get("type") == "message" and f.get("body") == "two")

    for body in ("one", "two", "three"):
        await asyncio.wait_for(sender.send(conversation, body), WAIT)
    await until(lambda: len(received) == 3, "three messages")
    await asyncio.sleep(0.3)

    assert [f["body"] for f in proxy.dropped] == ["two"]
    assert [(m.seq, m.body) for m in received] == [(1, "one"), (3, "three"), (2, "two")]
    assert receiver.stats["gaps"] == 1
    assert receiver.stats["duplicate_frames"] == 1  # 3 again, in the sync's answer
    assert receiver.position(conversation) == 3
    assert len(receiver.sessions) == 1  # repaired without reconnecting
    await sender.close()
    await receiver.close()
    await proxy.close()
    await alice.rest.close()
    await bob.rest.close()


async def test_4401_is_not_retried(server):
    """A bad token fails connect() at once; a revoked API token stops a connected client for
    good (no new handshake), and what it still had to send fails instead of hanging."""
    with pytest.raises(AuthenticationFailed):
        await Client(server.http, "not-a-token").connect(timeout=WAIT)

    alice, bob = await account(server.http, "alice"), await account(server.http, "bob")
    conversation = (await alice.rest.direct(bob.id))["id"]
    token = await alice.rest.create_token("sdk test", scopes=["read", "write"])
    client = Client(server.http, token["token"], backoff_base=0.05, backoff_cap=0.1)
    await client.connect(timeout=WAIT)
    assert (await client.send(conversation, "with an API token")).seq == 1

    await alice.rest.revoke_token(token["id"])
    await until(lambda: client.stopped, "the client stopped")
    await asyncio.sleep(1.0)  # a retry would open a second session here

    assert isinstance(client.error, AuthenticationFailed)
    assert [s.code for s in client.sessions] == [4401]
    with pytest.raises(AuthenticationFailed):
        await client.send(conversation, "after the revocation")
    with pytest.raises(ParleyError) as refused:
        await client.rest.me()
    assert refused.value.status == 401
    await client.close()
    await alice.rest.close()
    await bob.rest.close()


async def test_a_4401_with_a_way_to_refresh_reconnects_with_the_new_token(server):
    """A token the server refuses (4401) is replaced through `refresh` (Client.login wires it to
    the refresh token), and the client connects with the new one."""
    alice = await account(server.http, "alice")
    tokens = iter(["not-a-token"])
    refreshed: list[str] = []

    async def refresh() -> str:
        refreshed.append(await alice.rest.refresh_access())
        return refreshed[-1]

    client = Client(server.http, next(tokens), refresh=refresh, backoff_base=0.05)
    ready = await client.connect(timeout=WAIT)

    assert ready.user.id == alice.id
    assert len(refreshed) == 1
    assert [s.code for s in client.sessions] == [4401, None]
    await client.close()
    await alice.rest.close()
