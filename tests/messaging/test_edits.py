"""Edit and delete: permission and window rules, live frames, tombstones in history and sync,
and the change cursor that tells a client what changed while it was offline."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from audit.models import AuditLogEntry
from messaging.models import Membership, Message
from messaging.services import message_edit, message_send
from tests.factories import make_direct, make_group, make_user, make_users
from tests.ws import ready_socket, receive, receive_until

db = database_sync_to_async


def send(user, conversation, cid, body="hello"):
    return message_send(sender=user, conversation_id=conversation.pk, client_msg_id=cid, body=body)


def msg_url(conversation, ack):
    return f"/api/conversations/{conversation.pk}/messages/{ack['id']}/"


# --- REST: rules -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_sender_edits_within_the_window(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    ack = send(alice, direct, "a1", "helo")
    response = client_for(alice).patch(msg_url(direct, ack), {"body": "hello"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "message_updated" and body["body"] == "hello"
    assert body["id"] == ack["id"] and body["change_seq"] == 1 and body["edited_at"]
    page = client_for(bob).get(f"/api/conversations/{direct.pk}/messages/").json()
    assert page["results"][0]["body"] == "hello" and page["results"][0]["edited_at"]


@pytest.mark.django_db
def test_only_the_sender_edits(client_for):
    alice, bob = make_users("alice", "bob")
    group = make_group(alice, bob)
    ack = send(alice, group, "a1")
    response = client_for(bob).patch(msg_url(group, ack), {"body": "mine now"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert Message.objects.get(pk=int(ack["id"])).body == "hello"
    # Not even the group's owner edits someone else's message.
    bobs = send(bob, group, "b1")
    by_owner = client_for(alice).patch(msg_url(group, bobs), {"body": "x"}, format="json")
    assert by_owner.status_code == 403


@pytest.mark.django_db
def test_edit_window_closes(client_for, settings):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    ack = send(alice, direct, "a1")
    settings.PARLEY_EDIT_WINDOW = 60
    Message.objects.filter(pk=int(ack["id"])).update(
        created_at=timezone.now() - timedelta(seconds=61)
    )
    response = client_for(alice).patch(msg_url(direct, ack), {"body": "late"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "edit_window_closed"
    Message.objects.filter(pk=int(ack["id"])).update(
        created_at=timezone.now() - timedelta(seconds=50)
    )
    ok = client_for(alice).patch(msg_url(direct, ack), {"body": "ok"}, format="json")
    assert ok.status_code == 200


@pytest.mark.django_db
def test_edit_refusals(client_for):
    alice, bob, eve = make_users("alice", "bob", "eve")
    direct = make_direct(alice, bob)
    ack = send(alice, direct, "a1")
    client = client_for(alice)
    assert client.patch(msg_url(direct, ack), {"body": "  "}, format="json").status_code == 400
    stranger = client_for(eve).patch(msg_url(direct, ack), {"body": "x"}, format="json")
    assert stranger.status_code == 404
    missing = client.patch(
        f"/api/conversations/{direct.pk}/messages/12345/", {"body": "x"}, format="json"
    )
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert client.delete(msg_url(direct, ack)).status_code == 200
    deleted = client.patch(msg_url(direct, ack), {"body": "back"}, format="json")
    assert deleted.status_code == 409 and deleted.json()["code"] == "conflict"


@pytest.mark.django_db
def test_delete_leaves_a_tombstone_in_history(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    first, second = send(alice, direct, "a1", "oops"), send(alice, direct, "a2", "fine")
    response = client_for(alice).delete(msg_url(direct, first))
    assert response.status_code == 200
    assert response.json()["type"] == "message_deleted" and response.json()["seq"] == 1
    page = client_for(bob).get(f"/api/conversations/{direct.pk}/messages/").json()["results"]
    assert [(m["seq"], m["body"], m["deleted"]) for m in page] == [
        (1, None, True),
        (2, "fine", False),
    ]
    assert Message.objects.get(pk=int(first["id"])).body == ""  # erased, not hidden
    # Again: nothing changes.
    again = client_for(alice).delete(msg_url(direct, first))
    assert again.status_code == 200 and again.json()["change_seq"] == response.json()["change_seq"]
    assert second["seq"] == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("staff", 200)]
)
def test_who_may_delete_someone_elses_message(client_for, who, status):
    owner, admin, member, author = make_users("owner", "admin", "member", "author")
    staff = make_user("staff", is_staff=True)
    group = make_group(owner, admin, member, author)
    Membership.objects.filter(conversation=group, user=admin).update(role="admin")
    ack = send(author, group, "x1", "spam")
    actor = {"owner": owner, "admin": admin, "member": member, "staff": staff}[who]
    response = client_for(actor).delete(msg_url(group, ack))
    assert response.status_code == status
    message = Message.objects.get(pk=int(ack["id"]))
    if status == 200:
        assert message.deleted_at is not None
        row = AuditLogEntry.objects.get()
        assert (row.actor_id, row.action, row.target_id, row.via) == (
            actor.pk,
            "message_delete",
            ack["id"],
            "api",
        )
    else:
        assert response.json()["code"] == "forbidden" and message.deleted_at is None
        assert not AuditLogEntry.objects.exists()


@pytest.mark.django_db
def test_direct_chat_partner_cannot_delete_and_own_delete_is_not_audited(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    ack = send(alice, direct, "a1")
    assert client_for(bob).delete(msg_url(direct, ack)).status_code == 403
    assert client_for(alice).delete(msg_url(direct, ack)).status_code == 200
    assert not AuditLogEntry.objects.exists()


@pytest.mark.django_db
def test_system_messages_cannot_be_edited_or_deleted_by_members(client_for):
    owner, bob = make_users("owner", "bob")
    group = make_group(owner)
    client_for(owner).post(f"/api/groups/{group.pk}/members/", {"user": bob.pk}, format="json")
    system = Message.objects.get(conversation=group)
    url = f"/api/conversations/{group.pk}/messages/{system.pk}/"
    assert client_for(owner).delete(url).status_code == 403
    assert client_for(owner).patch(url, {"body": "x"}, format="json").status_code == 403


@pytest.mark.django_db
def test_changes_endpoint_lists_edits_and_deletes_since_a_cursor(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    a1, a2, a3 = (send(alice, direct, f"a{n}", f"m{n}") for n in (1, 2, 3))
    client = client_for(alice)
    client.patch(msg_url(direct, a1), {"body": "m1 edited"}, format="json")
    client.delete(msg_url(direct, a2))
    client.patch(msg_url(direct, a1), {"body": "m1 again"}, format="json")
    url = f"/api/conversations/{direct.pk}/changes/"
    everything = client_for(bob).get(url).json()
    # One entry per changed message: its current state, in change order.
    assert [(c["type"], c["id"], c["change_seq"]) for c in everything["results"]] == [
        ("message_deleted", a2["id"], 2),
        ("message_updated", a1["id"], 3),
    ]
    assert everything["results"][1]["body"] == "m1 again"
    assert everything["last_change_seq"] == 3 and everything["has_more"] is False
    since = client_for(bob).get(url, {"after_change_seq": 2}).json()
    assert [c["id"] for c in since["results"]] == [a1["id"]]
    paged = client_for(bob).get(url, {"limit": 1}).json()
    assert paged["has_more"] is True and paged["last_change_seq"] == 2
    assert client_for(bob).get(url, {"after_change_seq": -1}).status_code == 400
    summary = client_for(bob).get("/api/conversations/").json()[0]
    assert summary["last_change_seq"] == 3
    assert a3["seq"] == 3


# --- WebSocket -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_edit_and_delete_frames_reach_members_live():
    alice, bob = await db(make_users)("alice", "bob")
    group = await db(make_group)(alice, bob)
    a, _ = await ready_socket(alice)
    b, _ = await ready_socket(bob)
    await a.send_json_to(
        {"type": "send", "conversation": group.pk, "client_msg_id": "a1", "body": "helo"}
    )
    before, ack = await receive_until(a, "ack")
    await receive(b, "message")
    if not any(frame["type"] == "message" for frame in before):  # the ack may come first
        await receive(a, "message")

    await a.send_json_to({"type": "edit", "conversation": group.pk, "id": ack["id"], "body": "hi"})
    answer = await receive(a, "message_updated")
    live = await receive(b, "message_updated")
    assert answer == live
    assert live["id"] == ack["id"] and live["body"] == "hi" and live["seq"] == ack["seq"]

    await a.send_json_to({"type": "delete", "conversation": group.pk, "id": ack["id"]})
    answer = await receive(a, "message_deleted")
    live = await receive(b, "message_deleted")
    assert answer == live and live["change_seq"] == 2
    # The requesting socket got its answer once, not again from the live copy.
    assert await a.receive_nothing(timeout=0.5)

    await b.send_json_to({"type": "edit", "conversation": group.pk, "id": ack["id"], "body": "x"})
    assert (await receive(b, "error"))["code"] == "forbidden"
    await b.send_json_to({"type": "delete", "conversation": group.pk, "id": "nope"})
    assert (await receive(b, "error"))["code"] == "bad_request"
    await b.send_json_to({"type": "delete", "conversation": group.pk, "id": "123"})
    assert (await receive(b, "error"))["code"] == "not_found"
    await a.disconnect()
    await b.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_offline_client_learns_edits_and_deletes_on_reconnect():
    alice, bob = await db(make_users)("alice", "bob")
    direct = await db(make_direct)(alice, bob)
    acks = [await db(send)(alice, direct, f"a{n}", f"m{n}") for n in range(3)]
    b, _ = await ready_socket(bob)
    await b.send_json_to({"type": "sync", "conversation": direct.pk, "after_seq": 0})
    messages, _ = await receive_until(b, "sync_done")
    await b.disconnect()  # bob holds seq 1..3, change cursor 0

    await db(message_edit)(
        editor=alice, conversation_id=direct.pk, message_id=int(acks[0]["id"]), body="m0 fixed"
    )
    from messaging.services import message_delete

    await db(message_delete)(actor=alice, conversation_id=direct.pk, message_id=int(acks[1]["id"]))

    b, ready = await ready_socket(bob)
    summary = ready["conversations"][0]
    assert summary["last_change_seq"] == 2 and summary["last_seq"] == 3
    await b.send_json_to({"type": "changes", "conversation": direct.pk, "after_change_seq": 0})
    changes, done = await receive_until(b, "changes_done")
    assert [(c["type"], c["seq"]) for c in changes] == [
        ("message_updated", 1),
        ("message_deleted", 2),
    ]
    assert changes[0]["body"] == "m0 fixed" and "body" not in changes[1]
    assert done == {
        "type": "changes_done",
        "conversation": direct.pk,
        "last_change_seq": 2,
        "has_more": False,
    }
    # A fresh sync shows the current state too: the tombstone has no body.
    await b.send_json_to({"type": "sync", "conversation": direct.pk, "after_seq": 0})
    messages, _ = await receive_until(b, "sync_done")
    assert [(m["body"], m["deleted"]) for m in messages] == [
        ("m0 fixed", False),
        (None, True),
        ("m2", False),
    ]
    assert messages[0]["edited_at"] is not None
    await b.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_changes_to_messages_before_a_join_do_not_reach_the_new_member():
    owner, dave = await db(make_users)("owner", "dave")
    group = await db(make_group)(owner)
    old = await db(send)(owner, group, "o1", "before dave")
    from groups.services import group_member_add

    await db(group_member_add)(actor=owner, group_id=group.pk, user_id=dave.pk)
    d, _ = await ready_socket(dave)
    await db(message_edit)(
        editor=owner, conversation_id=group.pk, message_id=int(old["id"]), body="secret edit"
    )
    assert await d.receive_nothing(timeout=0.5)
    await d.send_json_to({"type": "changes", "conversation": group.pk, "after_change_seq": 0})
    changes, done = await receive_until(d, "changes_done")
    assert changes == [] and done["last_change_seq"] == 1
    await d.disconnect()
