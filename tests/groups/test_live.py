"""Membership changes as live events on the real gateway: system messages to members, the
conversation frame to a new member, and a removed member's socket receiving nothing more."""

import pytest
from channels.db import database_sync_to_async

from groups.services import group_leave, group_member_add, group_member_remove
from messaging.services import message_delete, message_edit, message_send
from tests.factories import make_group, make_users, person
from tests.ws import ready_socket, receive, receive_nothing, receive_until

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async
QUIET = 0.6  # seconds a socket must stay silent to show it receives nothing more


async def test_join_and_leave_reach_members_live_as_system_messages():
    owner, bob, carol = await db(make_users)("owner", "bob", "carol")
    group = await db(make_group)(owner, bob)
    o, _ = await ready_socket(owner)
    c, _ = await ready_socket(carol)

    await db(group_member_add)(actor=owner, group_id=group.pk, user_id=carol.pk)
    added = await receive(o, "message")
    assert added["sender"] is None and added["seq"] == 1
    assert added["system"]["event"] == "member_added"
    assert added["system"]["user"] == person(carol)
    joined = await receive(c, "conversation")
    assert joined["conversation"]["id"] == group.pk
    assert joined["conversation"]["joined_seq"] == 0 and joined["conversation"]["last_seq"] == 1

    # The new member's socket carries the group from the join on: its own join message
    # (published before the socket joined, so read back from the database) and then the rest.
    await db(message_send)(sender=bob, conversation_id=group.pk, client_msg_id="b1", body="hi")
    first = await receive(c, "message")
    assert first["seq"] == 1 and first["system"]["event"] == "member_added"
    assert (await receive(c, "message"))["body"] == "hi"
    assert (await receive(o, "message"))["body"] == "hi"

    await db(group_leave)(user=bob, group_id=group.pk)
    for socket in (o, c):
        left = await receive(socket, "message")
        assert left["system"]["event"] == "member_left" and left["seq"] == 3
    await o.disconnect()
    await c.disconnect()


async def test_removed_member_socket_receives_nothing_more():
    owner, bob, carol = await db(make_users)("owner", "bob", "carol")
    group = await db(make_group)(owner, bob, carol)
    await db(message_send)(sender=owner, conversation_id=group.pk, client_msg_id="m0", body="x")
    b, _ = await ready_socket(bob)
    c, _ = await ready_socket(carol)

    await db(group_member_remove)(actor=owner, group_id=group.pk, user_id=bob.pk)
    left = await receive(b, "conversation_left")
    assert left == {"type": "conversation_left", "conversation": group.pk, "reason": "removed"}
    removed = await receive(c, "message")
    assert removed["system"]["event"] == "member_removed"

    ack = await db(message_send)(
        sender=owner, conversation_id=group.pk, client_msg_id="m1", body="secret"
    )
    await db(message_edit)(
        editor=owner, conversation_id=group.pk, message_id=int(ack["id"]), body="secret 2"
    )
    await db(message_delete)(actor=owner, conversation_id=group.pk, message_id=int(ack["id"]))
    assert (await receive(c, "message"))["body"] == "secret"
    assert (await receive(c, "message_updated"))["body"] == "secret 2"
    await receive(c, "message_deleted")
    assert await receive_nothing(b, QUIET)  # presence of carol may come and go

    # Nor can the socket read or write the group any more.
    await b.send_json_to({"type": "sync", "conversation": group.pk, "after_seq": 0})
    assert (await receive(b, "error"))["code"] == "not_found"
    await b.send_json_to(
        {"type": "send", "conversation": group.pk, "client_msg_id": "b1", "body": "hey"}
    )
    assert (await receive(b, "error"))["code"] == "not_found"
    await b.send_json_to({"type": "changes", "conversation": group.pk, "after_change_seq": 0})
    assert (await receive(b, "error"))["code"] == "not_found"
    await b.disconnect()
    await c.disconnect()


async def test_new_member_sync_starts_at_the_join():
    owner, dave = await db(make_users)("owner", "dave")
    group = await db(make_group)(owner)
    for n in range(3):
        await db(message_send)(
            sender=owner, conversation_id=group.pk, client_msg_id=f"o{n}", body="before"
        )
    await db(group_member_add)(actor=owner, group_id=group.pk, user_id=dave.pk)
    d, ready = await ready_socket(dave)
    summary = next(s for s in ready["conversations"] if s["id"] == group.pk)
    assert summary["joined_seq"] == 3 and summary["last_seq"] == 4
    await d.send_json_to({"type": "sync", "conversation": group.pk, "after_seq": 0})
    messages, done = await receive_until(d, "sync_done")
    assert [m["seq"] for m in messages] == [4]
    assert messages[0]["system"]["event"] == "member_added"
    assert done["last_seq"] == 4
    await d.disconnect()


async def test_a_group_created_with_members_is_announced_to_each_of_their_sockets():
    owner, bob, carol = await db(make_users)("owner", "bob", "carol")
    sockets = [(await ready_socket(u))[0] for u in (owner, bob, carol)]

    group = await db(make_group)(owner, bob, carol, name="crew")
    for socket in sockets:
        joined = (await receive(socket, "conversation"))["conversation"]
        assert joined["id"] == group.pk and joined["kind"] == "group"
        assert joined["title"] == "crew"
        assert (joined["last_seq"], joined["unread"], joined["joined_seq"]) == (0, 0, 0)
    await db(message_send)(sender=bob, conversation_id=group.pk, client_msg_id="b1", body="hi")
    for socket in (sockets[0], sockets[2]):
        assert (await receive(socket, "message"))["body"] == "hi"
    for socket in sockets:
        await socket.disconnect()
