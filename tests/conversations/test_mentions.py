"""@mentions: parsed once on the server, carried on message objects, counted per member as
unread_mentions until read, and notified even in a muted conversation."""

import pytest
from channels.db import database_sync_to_async

from messaging.ids import message_id_time
from messaging.models import Membership, Message
from messaging.services import message_delete, message_send
from push.models import PushNotification
from push.services import push_deliver, push_window_notify
from receipts.services import receipt_mark
from tests.factories import make_direct, make_group, make_users
from tests.ws import ready_socket, receive

db = database_sync_to_async


def _summary(client, conversation):
    return next(c for c in client.get("/api/conversations/").json() if c["id"] == conversation.pk)


def _message(client, conversation, ack):
    page = client.get(f"/api/conversations/{conversation.pk}/messages/").json()["results"]
    return next(m for m in page if m["id"] == ack["id"])


@pytest.mark.django_db
def test_a_member_named_is_mentioned_and_counted_until_read(client_for):
    alice, bob, carol, _dave = make_users("alice", "bob", "Carol", "dave")
    group = make_group(alice, bob, carol)
    ack = message_send(
        sender=bob,
        conversation_id=group.pk,
        client_msg_id="m1",
        body="@carol. can you look? (not @dave, not `@alice`, not bob@carol.example)",
    )
    message = _message(client_for(alice), group, ack)
    assert message["mentions"] == [carol.pk] and message["mentions_all"] is False
    assert f'<span class="mention" data-user-id="{carol.pk}">@carol</span>.' in message["html"]
    assert "@dave" in message["html"] and "<code>@alice</code>" in message["html"]
    assert _summary(client_for(carol), group)["unread_mentions"] == 1
    assert _summary(client_for(alice), group)["unread_mentions"] == 0
    assert _summary(client_for(bob), group)["unread_mentions"] == 0

    receipt_mark(user_id=carol.pk, conversation_id=group.pk, seq=ack["seq"], read=True)
    assert _summary(client_for(carol), group)["unread_mentions"] == 0


@pytest.mark.django_db
def test_at_all_is_for_owners_and_admins_only(client_for):
    alice, bob, carol = make_users("alice", "bob", "carol")
    group = make_group(alice, bob, carol)
    plain = message_send(sender=bob, conversation_id=group.pk, client_msg_id="b1", body="@all hi")
    message = _message(client_for(carol), group, plain)
    assert message["mentions_all"] is False and message["mentions"] == []
    assert message["body"] == "@all hi" and "@all hi" in message["html"]
    assert _summary(client_for(carol), group)["unread_mentions"] == 0

    owner = message_send(
        sender=alice, conversation_id=group.pk, client_msg_id="a1", body="@everyone standup"
    )
    message = _message(client_for(carol), group, owner)
    assert message["mentions_all"] is True
    assert '<span class="mention mention-all">@everyone</span>' in message["html"]
    assert _summary(client_for(carol), group)["unread_mentions"] == 1
    assert _summary(client_for(bob), group)["unread_mentions"] == 1
    assert _summary(client_for(alice), group)["unread_mentions"] == 0

    Membership.objects.filter(conversation=group, user=bob).update(role="admin")
    admin = message_send(sender=bob, conversation_id=group.pk, client_msg_id="b2", body="@all x")
    assert _message(client_for(carol), group, admin)["mentions_all"] is True

    # No @all in a direct chat: the text stays.
    direct = make_direct(alice, bob)
    ack = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="d1", body="@all")
    assert _message(client_for(bob), direct, ack)["mentions_all"] is False


@pytest.mark.django_db
def test_edits_and_deletes_redo_the_mentions(client_for):
    alice, bob, carol = make_users("alice", "bob", "carol")
    group = make_group(alice, bob, carol)
    ack = message_send(sender=alice, conversation_id=group.pk, client_msg_id="a1", body="@bob hi")
    assert _summary(client_for(bob), group)["unread_mentions"] == 1
    response = client_for(alice).patch(
        f"/api/conversations/{group.pk}/messages/{ack['id']}/", {"body": "@carol hi"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["mentions"] == [carol.pk]
    assert f'data-user-id="{carol.pk}"' in response.json()["html"]
    assert _summary(client_for(bob), group)["unread_mentions"] == 0
    assert _summary(client_for(carol), group)["unread_mentions"] == 1
    changes = client_for(carol).get(f"/api/conversations/{group.pk}/changes/").json()["results"]
    assert changes[-1]["mentions"] == [carol.pk] and "mention" in changes[-1]["html"]

    message_delete(actor=alice, conversation_id=group.pk, message_id=int(ack["id"]))
    assert _summary(client_for(carol), group)["unread_mentions"] == 0
    message = _message(client_for(carol), group, ack)
    assert message["html"] is None and message["mentions"] == []


@pytest.mark.django_db
def test_a_mention_is_pushed_even_in_a_muted_conversation(settings, client_for):
    settings.PARLEY_PUSH_WEBHOOK_URL = "http://127.0.0.1:9/unused"
    settings.PARLEY_PUSH_WEBHOOK_SECRET = "s"
    settings.PARLEY_VAPID_PRIVATE_KEY = ""
    alice, bob, carol = make_users("alice", "bob", "carol")
    group = make_group(alice, bob, carol)
    for member in (bob, carol):
        client_for(member).patch(
            f"/api/conversations/{group.pk}/membership/", {"muted": True}, format="json"
        )
    message_send(sender=alice, conversation_id=group.pk, client_msg_id="a1", body="@bob look")
    newest = Message.objects.filter(conversation=group).latest("seq")
    window = int(message_id_time(newest.pk).timestamp() // 60) * 60 * 1000
    pending = push_window_notify(conversation_id=group.pk, window_ms=window, window_seconds=60)
    notified = PushNotification.objects.filter(pk__in=pending)
    assert list(notified.values_list("user_id", flat=True)) == [bob.pk]
    assert notified.get().payload["mentions"] == 1
    # Still muted at delivery: the mention goes out all the same (not skipped).
    assert push_deliver(notification_id=pending[0]).status != "skipped"


@pytest.mark.django_db(transaction=True)
async def test_live_frames_and_ready_carry_mentions():
    alice, bob = await db(make_users)("alice", "bob")
    group = await db(make_group)(alice, bob)
    await db(message_send)(sender=alice, conversation_id=group.pk, client_msg_id="a0", body="@bob")
    socket, ready = await ready_socket(bob)
    [summary] = [c for c in ready["conversations"] if c["id"] == group.pk]
    assert summary["unread_mentions"] == 1
    await socket.send_json_to(
        {"type": "send", "conversation": group.pk, "client_msg_id": "b1", "body": "_hi_ @alice"}
    )
    frame = await receive(socket, "message")
    assert frame["mentions"] == [alice.pk]
    assert frame["html"].startswith('<p><em>hi</em> <span class="mention"')
    ack = await receive(socket, "ack")
    await socket.send_json_to(
        {"type": "edit", "conversation": group.pk, "id": ack["id"], "body": "**x**"}
    )
    updated = await receive(socket, "message_updated")
    assert updated["html"] == "<p><strong>x</strong></p>" and updated["mentions"] == []
    await socket.disconnect()
