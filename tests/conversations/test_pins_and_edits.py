"""Pins (who may pin, the list, `pins` frames replayed by `changes`) and edit history."""

import pytest
from channels.db import database_sync_to_async

from conversations.services import pin_set
from messaging.services import message_send
from tests.factories import make_direct, make_group, make_user, make_users, person
from tests.ws import ready_socket, receive_until

db = database_sync_to_async


def _pin_url(conversation, message_id):
    return f"/api/conversations/{conversation.pk}/pins/{message_id}/"


@pytest.mark.django_db
def test_owners_and_admins_pin_in_groups_members_in_direct_chats(client_for):
    alice, bob = make_users("alice", "bob")
    stranger = make_user("mallory")
    group = make_group(alice, bob)
    first = message_send(sender=bob, conversation_id=group.pk, client_msg_id="b1", body="one")
    second = message_send(sender=bob, conversation_id=group.pk, client_msg_id="b2", body="two")

    refused = client_for(bob).put(_pin_url(group, first["id"]))
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert client_for(stranger).put(_pin_url(group, first["id"])).status_code == 404
    assert client_for(alice).put(_pin_url(group, "12345")).status_code == 404

    pinned = client_for(alice).put(_pin_url(group, first["id"]))
    assert pinned.status_code == 200 and pinned.json()["pinned"] is True
    assert pinned.json()["change_seq"] > 0
    assert client_for(alice).put(_pin_url(group, first["id"])).json()["change_seq"] is None
    client_for(alice).put(_pin_url(group, second["id"]))
    listed = client_for(bob).get(f"/api/conversations/{group.pk}/pins/").json()
    assert [p["message"]["body"] for p in listed] == ["two", "one"]
    assert listed[0]["pinned_by"] == person(alice)
    history = client_for(bob).get(f"/api/conversations/{group.pk}/messages/").json()["results"]
    assert {m["body"] for m in history if m.get("pinned")} == {"one", "two"}

    unpinned = client_for(alice).delete(_pin_url(group, second["id"]))
    assert unpinned.status_code == 200 and unpinned.json()["pinned"] is False
    assert len(client_for(bob).get(f"/api/conversations/{group.pk}/pins/").json()) == 1

    direct = make_direct(alice, bob)
    ack = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="d", body="x")
    assert client_for(bob).put(_pin_url(direct, ack["id"])).status_code == 200

    # Deleting a pinned message unpins it.
    client_for(bob).delete(f"/api/conversations/{group.pk}/messages/{first['id']}/")
    assert client_for(bob).get(f"/api/conversations/{group.pk}/pins/").json() == []


@pytest.mark.django_db
def test_every_edit_keeps_the_text_it_replaced_until_the_message_is_deleted(client_for):
    alice, bob = make_users("alice", "bob")
    stranger = make_user("mallory")
    group = make_group(alice, bob)
    ack = message_send(sender=alice, conversation_id=group.pk, client_msg_id="a", body="v1")
    url = f"/api/conversations/{group.pk}/messages/{ack['id']}/"
    assert client_for(bob).get(f"{url}edits/").json() == []
    for body in ("v2", "v3"):
        assert client_for(alice).patch(url, {"body": body}, format="json").status_code == 200
    edits = client_for(bob).get(f"{url}edits/").json()
    assert [e["body"] for e in edits] == ["v1", "v2"]
    assert edits[0]["edited_at"] <= edits[1]["edited_at"]
    assert client_for(stranger).get(f"{url}edits/").status_code == 404
    client_for(alice).delete(url)
    assert client_for(bob).get(f"{url}edits/").json() == []


@pytest.mark.django_db(transaction=True)
async def test_pins_frames_reach_members_and_changes_replays_them():
    alice, bob = await db(make_users)("alice", "bob")
    group = await db(make_group)(alice, bob)
    ack = await db(message_send)(sender=bob, conversation_id=group.pk, client_msg_id="b", body="x")
    socket, _ = await ready_socket(bob)
    await db(pin_set)(user=alice, conversation_id=group.pk, message_id=int(ack["id"]), on=True)
    _, frame = await receive_until(socket, "pins")
    assert frame["message"] == ack["id"] and frame["pinned"] is True
    assert frame["by"] == person(alice)
    await socket.disconnect()

    socket, _ = await ready_socket(bob)
    await socket.send_json_to({"type": "changes", "conversation": group.pk, "after_change_seq": 0})
    before, _ = await receive_until(socket, "changes_done")
    assert [(f["type"], f["pinned"]) for f in before if f["type"] == "pins"] == [("pins", True)]
    await socket.disconnect()
