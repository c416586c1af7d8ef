"""Rate limits, abuse closing and the IP lists on the WebSocket gateway (real ASGI application)."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from messaging.models import Message
from protection.services import blacklist_add, whitelist_add
from tests.factories import make_direct, make_user
from tests.ws import close_code, communicator_for, open_socket, ready_socket, receive, receive_until

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


def send(conversation: int, n: int) -> dict:
    return {"type": "send", "conversation": conversation, "client_msg_id": f"m{n}", "body": "hi"}


async def ack_and_echo(socket) -> dict:
    """A stored send answers with an ack and its live copy, in either order."""
    frames = {f["type"]: f for f in [await receive(socket), await receive(socket)]}
    assert set(frames) == {"ack", "message"}, frames
    return frames["ack"]


async def pair():
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    return alice, bob, await db(make_direct)(alice, bob)


async def test_send_over_the_limit_is_refused_with_retry_after_and_nothing_stored(settings):
    settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "ws_send": "1/m:3"}
    alice, _, direct = await pair()
    a, _ = await ready_socket(alice)
    for n in range(3):
        await a.send_json_to(send(direct.pk, n))
        assert (await ack_and_echo(a))["client_msg_id"] == f"m{n}"
    await a.send_json_to(send(direct.pk, 99))
    error = await receive(a, "error")
    assert error["code"] == "rate_limited"
    assert error["ref"] == "m99"
    assert 1 <= error["retry_after"] <= 60
    assert await db(Message.objects.count)() == 3
    # The socket stays open and other frames still work.
    await a.send_json_to({"type": "ping"})
    assert await receive(a, "pong") == {"type": "pong"}
    await a.disconnect()


async def test_the_send_limit_is_per_user_across_sockets(settings):
    settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "ws_send": "1/m:2"}
    alice, bob, direct = await pair()
    phone, _ = await ready_socket(alice)
    laptop, _ = await ready_socket(alice)
    other, _ = await ready_socket(bob)
    await phone.send_json_to(send(direct.pk, 1))
    await receive_until(phone, "ack")
    await laptop.send_json_to(send(direct.pk, 2))
    await receive_until(laptop, "ack")
    await laptop.send_json_to(send(direct.pk, 3))
    _, error = await receive_until(laptop, "error")
    assert error["code"] == "rate_limited"
    await other.send_json_to(send(direct.pk, 4))  # bob has his own bucket
    await receive_until(other, "ack")
    for socket in (phone, laptop, other):
        await socket.disconnect()


async def test_sustained_abuse_closes_the_socket_with_4429(settings):
    settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "ws_send": "1/m:1"}
    settings.PARLEY_ABUSE_REFUSALS = 5
    alice, _, direct = await pair()
    a, _ = await ready_socket(alice)
    await a.send_json_to(send(direct.pk, 0))
    await ack_and_echo(a)
    for n in range(1, 6):
        await a.send_json_to(send(direct.pk, n))
        assert (await receive(a, "error"))["code"] == "rate_limited"
    assert await close_code(a) == 4429


async def test_handshakes_over_the_per_ip_limit_are_closed_with_4429(settings):
    settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "ws_handshake": "1/m:2"}
    alice = await db(make_user)("alice")
    sockets = [await open_socket(alice, client="198.51.100.7") for _ in range(2)]
    for s in sockets:
        await receive(s, "ready")
    refused = await open_socket(alice, client="198.51.100.7")
    assert await close_code(refused) == 4429
    # Another address has its own bucket.
    fine, _ = await ready_socket(alice, client="198.51.100.8")
    for s in [*sockets, fine]:
        await s.disconnect()


async def test_whitelisted_addresses_are_exempt_from_rate_limits(settings):
    settings.PARLEY_RATE_LIMITS = {
        **settings.PARLEY_RATE_LIMITS,
        "ws_handshake": "1/m:1",
        "ws_send": "1/m:1",
    }
    await db(whitelist_add)(network="198.51.100.0/24", reason="office")
    alice, _, direct = await pair()
    sockets = [(await ready_socket(alice, client="198.51.100.9"))[0] for _ in range(3)]
    a = sockets[0]
    for n in range(4):
        await a.send_json_to(send(direct.pk, n))
        assert (await ack_and_echo(a))["seq"] == n + 1
    for s in sockets:
        await s.disconnect()


async def test_a_blacklisted_address_has_its_handshake_refused():
    await db(blacklist_add)(network="2001:db8::/32", reason="abuse")
    alice = await db(make_user)("alice")
    communicator = communicator_for(alice, client="2001:db8::5")
    connected, _ = await communicator.connect(timeout=3)
    assert not connected  # closed before accept: the HTTP handshake answers 403
    ok, _ = await ready_socket(alice, client="2001:db9::5")
    await ok.disconnect()


async def test_blacklisting_closes_live_sockets_from_that_address_only():
    alice, bob, _ = await pair()
    bad, _ = await ready_socket(alice, client="203.0.113.50")
    good, _ = await ready_socket(bob, client="203.0.113.51")
    await db(blacklist_add)(network="203.0.113.50", reason="spam")
    assert await close_code(bad) == 4403
    await good.send_json_to({"type": "ping"})
    assert await receive(good, "pong") == {"type": "pong"}
    await good.disconnect()


async def test_a_blacklisted_network_closes_every_socket_inside_it():
    alice = await db(make_user)("alice")
    sockets = [(await ready_socket(alice, client=f"192.0.2.{n}"))[0] for n in (1, 77)]
    await db(blacklist_add)(network="192.0.2.0/25")
    for s in sockets:
        assert await asyncio.wait_for(close_code(s), 5) == 4403


async def test_typing_over_its_limit_is_refused(settings):
    settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "ws_typing": "1/m:2"}
    alice, _, direct = await pair()
    a, _ = await ready_socket(alice)
    for _ in range(3):
        await a.send_json_to({"type": "typing", "conversation": direct.pk})
    await a.send_json_to({"type": "ping"})
    before, _ = await receive_until(a, "pong")
    assert [(f["type"], f.get("code")) for f in before] == [("error", "rate_limited")]
    await a.disconnect()


async def test_an_entry_written_by_another_process_closes_the_socket(settings):
    """No channel-layer message reaches this process (another process's in-memory layer, or a
    lost message): the server's own check of the shared stamp closes the socket."""
    from django.core.cache import cache

    from protection import rules
    from protection.models import AddressListsVersion, BlacklistEntry

    settings.PARLEY_IP_LISTS_REFRESH = 0.2
    alice = await db(make_user)("alice")
    socket, _ = await ready_socket(alice, client="198.51.100.20")

    def written_elsewhere() -> None:
        BlacklistEntry.objects.create(network="198.51.100.0/24")
        AddressListsVersion.bump()
        cache.set(rules.VERSION_KEY, "changed-by-another-process", timeout=None)

    await db(written_elsewhere)()
    assert await asyncio.wait_for(close_code(socket), 10) == 4403
