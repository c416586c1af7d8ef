"""`ready` with a cursor (`?since=`): only the conversations changed since, the rest unchanged
(messaging/ready.py, docs/protocol.md)."""

import pytest
from channels.db import database_sync_to_async

from groups.services import group_member_remove
from messaging.services import message_send
from receipts.services import receipt_mark
from tests.factories import make_direct, make_group, make_users
from tests.ws import ready_socket, receive

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


async def test_a_socket_without_since_gets_the_ready_it_always_got():
    alice, bob = await db(make_users)("alice", "bob")
    await db(make_direct)(alice, bob)
    socket, ready = await ready_socket(alice)
    assert set(ready) == {
        "type",
        "user",
        "conversations",
        "users",
        "heartbeat_interval",
        "features",
    }
    assert len(ready["conversations"]) == 1
    await socket.disconnect()


async def test_an_empty_or_unknown_since_gets_every_conversation_and_a_cursor():
    alice, bob, carol = await db(make_users)("alice", "bob", "carol")
    await db(make_direct)(alice, bob)
    await db(make_group)(alice, carol, name="Crew")
    for since in ("", "no0such0cursor", "not a cursor!"):
        socket, ready = await ready_socket(alice, path=f"/ws/?since={since}")
        assert len(ready["conversations"]) == 2
        assert ready["partial"] is False
        assert ready["removed"] == []
        assert ready["cursor"]
        await socket.disconnect()


async def test_a_reconnect_with_the_cursor_gets_only_what_changed_and_what_is_gone():
    alice, bob, carol, dave = await db(make_users)("alice", "bob", "carol", "dave")
    direct = await db(make_direct)(alice, bob)
    quiet = await db(make_group)(carol, alice, name="Quiet")
    busy = await db(make_group)(dave, alice, name="Busy")
    gone = await db(make_group)(carol, alice, name="Gone")
    socket, first = await ready_socket(alice, path="/ws/?since=")
    assert {c["id"] for c in first["conversations"]} == {direct.pk, quiet.pk, busy.pk, gone.pk}
    await socket.disconnect()

    # While alice is away: a message in Busy, bob reads in the direct chat, carol removes her
    # from Gone. Quiet does not change.
    await db(message_send)(sender=dave, conversation_id=busy.pk, client_msg_id="b1", body="hey")
    await db(message_send)(sender=alice, conversation_id=direct.pk, client_msg_id="d1", body="yo")
    await db(receipt_mark)(user_id=bob.pk, conversation_id=direct.pk, seq=1, read=True)
    await db(group_member_remove)(actor=carol, group_id=gone.pk, user_id=alice.pk)

    socket, ready = await ready_socket(alice, path=f"/ws/?since={first['cursor']}")
    assert ready["partial"] is True
    changed = {c["id"]: c for c in ready["conversations"]}
    assert set(changed) == {busy.pk, direct.pk}
    assert changed[busy.pk]["unread"] == 1
    assert changed[busy.pk]["last_message"]["body"] == "hey"
    assert ready["removed"] == [gone.pk]
    assert ready["cursor"] != first["cursor"]

    # The unchanged conversation is carried live all the same.
    await db(message_send)(sender=carol, conversation_id=quiet.pk, client_msg_id="q1", body="hi")
    message = await receive(socket, "message")
    assert (message["conversation"], message["body"]) == (quiet.pk, "hi")
    await socket.disconnect()

    # Nothing changed since the newest cursor: an empty list.
    socket, again = await ready_socket(alice, path=f"/ws/?since={ready['cursor']}")
    assert again["partial"] is True
    assert [c["id"] for c in again["conversations"]] == [quiet.pk]  # its message above
    await socket.disconnect()


async def test_own_reads_on_another_device_count_as_a_change():
    alice, bob = await db(make_users)("alice", "bob")
    direct = await db(make_direct)(alice, bob)
    await db(message_send)(sender=bob, conversation_id=direct.pk, client_msg_id="m", body="x")
    socket, first = await ready_socket(alice, path="/ws/?since=")
    assert first["conversations"][0]["unread"] == 1
    await socket.disconnect()
    await db(receipt_mark)(user_id=alice.pk, conversation_id=direct.pk, seq=1, read=True)
    socket, ready = await ready_socket(alice, path=f"/ws/?since={first['cursor']}")
    assert [(c["id"], c["unread"]) for c in ready["conversations"]] == [(direct.pk, 0)]
    await socket.disconnect()


async def test_last_messages_of_many_conversations_are_read_in_chunks(monkeypatch):
    """SQLite refuses one expression over a thousand conversations; chunks of them add up to
    the same previews."""
    from messaging import selectors

    monkeypatch.setattr(selectors, "LAST_MESSAGES_CHUNK", 2)
    alice, bob = await db(make_users)("alice", "bob")
    groups = [await db(make_group)(bob, alice, name=f"g{n}") for n in range(5)]
    for n, group in enumerate(groups):
        await db(message_send)(
            sender=bob, conversation_id=group.pk, client_msg_id=f"m{n}", body=f"in g{n}"
        )
    socket, ready = await ready_socket(alice)
    previews = {c["title"]: c["last_message"]["body"] for c in ready["conversations"]}
    assert previews == {f"g{n}": f"in g{n}" for n in range(5)}
    await socket.disconnect()
