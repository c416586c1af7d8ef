"""delivered/read frames over the WebSocket: receipts reach the sender and the reader's other
devices, survive reconnects, and are coalesced in large groups. Run in both configurations."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from groups.services import group_leave, group_member_remove
from messaging.services import message_send
from tests.factories import make_direct, make_group, make_user, make_users
from tests.ws import TIMEOUT, ready_socket, receive, receive_until

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


async def next_frame(socket, frame_type, wait=TIMEOUT):
    """The next frame of `frame_type`, passing over any others."""
    while True:
        frame = await receive(socket, wait=wait)
        if frame["type"] == frame_type:
            return frame


async def quiet(socket):
    """Nothing but presence arrives before the answer to a ping: the socket got no other frame."""
    await socket.send_json_to({"type": "ping"})
    assert (await receive(socket))["type"] == "pong"


async def send_many(sender, conversation, n):
    for i in range(n):
        await db(message_send)(
            sender=sender, conversation_id=conversation.pk, client_msg_id=f"s{i}", body=f"m{i}"
        )


async def test_receipts_reach_the_sender_and_the_readers_other_device():
    alice, bob = await db(make_users)("alice", "bob")
    direct = await db(make_direct)(alice, bob)
    await send_many(alice, direct, 3)
    a, _ = await ready_socket(alice)
    phone, _ = await ready_socket(bob)
    laptop, ready = await ready_socket(bob)
    assert ready["conversations"][0]["unread"] == 3

    await phone.send_json_to({"type": "delivered", "conversation": direct.pk, "seq": 3})
    expected = {
        "type": "receipt",
        "conversation": direct.pk,
        "user": bob.pk,
        "delivered_seq": 3,
        "read_seq": 0,
    }
    assert await receive(a) == expected
    assert await receive(laptop) == expected
    assert await receive(phone) == expected

    await phone.send_json_to({"type": "read", "conversation": direct.pk, "seq": 2})
    for socket in (a, laptop, phone):
        assert await next_frame(socket, "receipt") == {**expected, "read_seq": 2}

    # A lower value is ignored: no error, no receipt.
    await phone.send_json_to({"type": "read", "conversation": direct.pk, "seq": 1})
    await quiet(phone)
    await quiet(a)
    for socket in (a, phone, laptop):
        await socket.disconnect(timeout=TIMEOUT)

    # Stored, not kept in memory: a new connection sees the cursors and the sender the state.
    laptop, ready = await ready_socket(bob)
    assert (ready["conversations"][0]["read_seq"], ready["conversations"][0]["unread"]) == (2, 1)
    a, _ = await ready_socket(alice)
    await a.send_json_to({"type": "sync", "conversation": direct.pk, "after_seq": 0})
    statuses = [(await receive(a, "message"))["status"] for _ in range(3)]
    assert statuses == ["read", "read", "delivered"]
    await receive(a, "sync_done")
    await a.disconnect(timeout=TIMEOUT)
    await laptop.disconnect(timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "read", "conversation": "x", "seq": 1}, "bad_request"),
        ({"type": "read", "conversation": 1}, "bad_request"),
        ({"type": "delivered", "conversation": 1, "seq": -1}, "bad_request"),
        ({"type": "delivered", "conversation": 1, "seq": True}, "bad_request"),
        ({"type": "read", "conversation": 99999, "seq": 0}, "not_found"),
    ],
)
async def test_bad_receipt_frames_get_an_error_and_the_socket_keeps_working(frame, code):
    alice = await db(make_user)("alice")
    a, _ = await ready_socket(alice)
    await a.send_json_to(frame)
    assert (await receive(a, "error"))["code"] == code
    await quiet(a)
    await a.disconnect(timeout=TIMEOUT)


async def test_seq_beyond_the_last_message_and_a_strangers_conversation_are_errors():
    alice, bob, eve = await db(make_users)("alice", "bob", "eve")
    direct = await db(make_direct)(alice, bob)
    await send_many(alice, direct, 2)
    b, _ = await ready_socket(bob)
    e, _ = await ready_socket(eve)
    await b.send_json_to({"type": "read", "conversation": direct.pk, "seq": 3})
    error = await receive(b, "error")
    assert (error["code"], "seq" in error["detail"]) == ("bad_request", True)
    await e.send_json_to({"type": "delivered", "conversation": direct.pk, "seq": 1})
    assert (await receive(e, "error"))["code"] == "not_found"
    await quiet(b)
    await b.disconnect(timeout=TIMEOUT)
    await e.disconnect(timeout=TIMEOUT)


async def test_group_sync_tells_the_sender_counts(client_for):
    alice, bob, carol = await db(make_users)("alice", "bob", "carol")
    group = await db(make_group)(alice, bob, carol)
    await send_many(alice, group, 2)
    b, _ = await ready_socket(bob)
    await b.send_json_to({"type": "read", "conversation": group.pk, "seq": 2})
    await next_frame(b, "receipt")
    await db(client_for(carol).post)(
        f"/api/conversations/{group.pk}/read/", {"seq": 1}, format="json"
    )
    assert (await next_frame(b, "receipt"))["user"] == carol.pk  # REST read is pushed too

    a, _ = await ready_socket(alice)
    await a.send_json_to({"type": "sync", "conversation": group.pk, "after_seq": 0})
    first, second = await receive(a, "message"), await receive(a, "message")
    assert (first["delivered_count"], first["read_count"]) == (2, 2)
    assert (second["delivered_count"], second["read_count"]) == (1, 1)
    await b.send_json_to({"type": "sync", "conversation": group.pk, "after_seq": 0})
    assert "read_count" not in await next_frame(b, "message")
    await a.disconnect(timeout=TIMEOUT)
    await b.disconnect(timeout=TIMEOUT)


async def sync_counts(socket, conversation):
    """(delivered_count, read_count) of the sender's messages, from a `sync` over the socket."""
    await socket.send_json_to({"type": "sync", "conversation": conversation.pk, "after_seq": 0})
    before, _ = await receive_until(socket, "sync_done")
    return [
        (m["delivered_count"], m["read_count"])
        for m in before
        if m["type"] == "message" and "read_count" in m
    ]


async def test_readers_who_leave_still_count_in_sync_and_live_receipts_go_on(client_for):
    alice, bob, carol, dave = await db(make_users)("alice", "bob", "carol", "dave")
    group = await db(make_group)(alice, bob, carol, dave)
    await send_many(alice, group, 1)
    a, _ = await ready_socket(alice)
    for reader in (bob, carol):
        await db(client_for(reader).post)(
            f"/api/conversations/{group.pk}/read/", {"seq": 1}, format="json"
        )
        receipt = await next_frame(a, "receipt")
        assert (receipt["user"], receipt["read_seq"]) == (reader.pk, 1)
    assert await sync_counts(a, group) == [(2, 2)]

    await db(group_leave)(user=bob, group_id=group.pk)
    await db(group_member_remove)(actor=alice, group_id=group.pk, user_id=carol.pk)
    assert await sync_counts(a, group) == [(2, 2)]

    # Dave, still a member, reads: his receipt reaches alice and the count goes on from 2.
    await db(client_for(dave).post)(
        f"/api/conversations/{group.pk}/read/", {"seq": 1}, format="json"
    )
    assert (await next_frame(a, "receipt"))["user"] == dave.pk
    assert await sync_counts(a, group) == [(3, 3)]
    await a.disconnect(timeout=TIMEOUT)


async def test_large_group_receipts_are_coalesced_to_one_per_member_per_second(settings):
    settings.PARLEY_RECEIPT_COALESCE_MEMBERS = 2
    alice, bob, carol = await db(make_users)("alice", "bob", "carol")
    group = await db(make_group)(alice, bob, carol)
    await send_many(alice, group, 4)
    a, _ = await ready_socket(alice)
    b, _ = await ready_socket(bob)
    loop = asyncio.get_running_loop()

    for seq in (1, 2, 3, 4):
        await b.send_json_to({"type": "delivered", "conversation": group.pk, "seq": seq})
        await b.send_json_to({"type": "read", "conversation": group.pk, "seq": seq})
    first = await next_frame(a, "receipt")
    first_at = loop.time()
    assert (first["user"], first["delivered_seq"], first["read_seq"]) == (bob.pk, 1, 0)
    last = await next_frame(a, "receipt", wait=TIMEOUT + 2)
    # The receipts inside the window collapse into one carrying the final state.
    assert (last["delivered_seq"], last["read_seq"]) == (4, 4)
    assert loop.time() - first_at >= 0.5  # the window is 1 s, less our own delays
    await quiet(a)
    assert await a.receive_nothing(timeout=1.2)
    await a.disconnect(timeout=TIMEOUT)
    await b.disconnect(timeout=TIMEOUT)
