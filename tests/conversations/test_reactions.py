"""Reactions: REST and WebSocket share one idempotent service; members see `reaction` frames,
`changes` replays them, history shows them per viewer; bad emoji and strangers are refused."""

from urllib.parse import quote

import pytest
from channels.db import database_sync_to_async

from announcements.services import announcement_conversation_ensure
from conversations.services import reaction_set
from messaging.services import message_send
from tests.factories import make_group, make_user, make_users
from tests.ws import ready_socket, receive_until

db = database_sync_to_async


def _url(conversation_id, message_id, emoji):
    return (
        f"/api/conversations/{conversation_id}/messages/{message_id}/reactions/"
        f"{quote(emoji, safe='')}/"
    )


def _reactions(client, conversation, message_id):
    page = client.get(f"/api/conversations/{conversation.pk}/messages/").json()["results"]
    return next(m for m in page if m["id"] == message_id).get("reactions", [])


@pytest.mark.django_db
def test_reacting_over_rest_is_idempotent_and_shown_per_viewer(client_for):
    alice, bob = make_users("alice", "bob")
    group = make_group(alice, bob)
    ack = message_send(sender=alice, conversation_id=group.pk, client_msg_id="a", body="ship?")
    url = _url(group.pk, ack["id"], "👍🏽")
    first = client_for(bob).put(url)
    assert first.status_code == 200
    assert first.json()["count"] == 1 and first.json()["on"] is True
    again = client_for(bob).put(url)
    assert again.json()["count"] == 1 and again.json()["change_seq"] is None
    client_for(alice).put(url)
    client_for(alice).put(_url(group.pk, ack["id"], "🎉"))

    assert _reactions(client_for(bob), group, ack["id"]) == [
        {"emoji": "👍🏽", "count": 2, "users": [bob.pk, alice.pk], "me": True},
        {"emoji": "🎉", "count": 1, "users": [alice.pk], "me": False},
    ]
    gone = client_for(bob).delete(url)
    assert gone.status_code == 200 and gone.json()["count"] == 1 and gone.json()["on"] is False
    assert client_for(bob).delete(url).json()["change_seq"] is None
    assert _reactions(client_for(bob), group, ack["id"])[0]["me"] is False


@pytest.mark.django_db
def test_bad_emoji_strangers_and_limits(client_for):
    alice, bob = make_users("alice", "bob")
    stranger = make_user("mallory")
    group = make_group(alice, bob)
    ack = message_send(sender=alice, conversation_id=group.pk, client_msg_id="a", body="x")
    for bad in ("a", "👍👍", ":)", "1", "👍 ", "x" * 40, "%00"):
        response = client_for(bob).put(_url(group.pk, ack["id"], bad))
        assert response.status_code == 400, bad
        assert response.json()["code"] == "bad_request" and response.json()["field"] == "emoji"
    assert client_for(stranger).put(_url(group.pk, ack["id"], "👍")).status_code == 404
    assert client_for(bob).put(_url(group.pk, "12345", "👍")).status_code == 404

    twenty = ["😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊",
              "😋", "😎", "😍", "😘", "🥰", "😗", "😙", "🥲", "😚", "🙂"]  # fmt: skip
    for emoji in twenty:
        assert client_for(alice).put(_url(group.pk, ack["id"], emoji)).status_code == 200
    over = client_for(bob).put(_url(group.pk, ack["id"], "🤗"))
    assert over.status_code == 400 and over.json()["field"] == "emoji"
    # One of the twenty again is fine: it is not a new emoji on the message.
    assert client_for(bob).put(_url(group.pk, ack["id"], "😀")).json()["count"] == 2


@pytest.mark.django_db
def test_members_of_the_announcement_conversation_may_react(client_for):
    staff = make_user("boss", is_staff=True)
    reader = make_user("reader")
    conversation_id = announcement_conversation_ensure()
    ack = message_send(
        sender=staff, conversation_id=conversation_id, client_msg_id="n", body="news"
    )
    assert client_for(reader).put(_url(conversation_id, ack["id"], "🎉")).status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_react_frames_reach_members_and_changes_replays_them():
    alice, bob = await db(make_users)("alice", "bob")
    group = await db(make_group)(alice, bob)
    ack = await db(message_send)(
        sender=alice, conversation_id=group.pk, client_msg_id="a", body="x"
    )
    on_alice, _ = await ready_socket(alice)
    on_bob, _ = await ready_socket(bob)
    await on_bob.send_json_to(
        {"type": "react", "conversation": group.pk, "message": ack["id"], "emoji": "❤️", "on": True}
    )
    _, answer = await receive_until(on_bob, "reaction")
    _, seen = await receive_until(on_alice, "reaction")
    expected = {
        "type": "reaction",
        "conversation": group.pk,
        "message": ack["id"],
        "emoji": "❤️",
        "user": bob.pk,
        "on": True,
        "count": 1,
    }
    assert {k: answer[k] for k in expected} == expected == {k: seen[k] for k in expected}
    await on_bob.send_json_to(
        {"type": "react", "conversation": group.pk, "message": ack["id"], "emoji": "nope"}
    )
    _, error = await receive_until(on_bob, "error")
    assert error["code"] == "bad_request" and error["field"] == "emoji"
    await on_alice.disconnect()
    await on_bob.disconnect()

    # Alice was away while Bob took it back: `changes` brings the newest state.
    await db(reaction_set)(
        user=bob, conversation_id=group.pk, message_id=int(ack["id"]), emoji="❤️", on=False
    )
    socket, _ = await ready_socket(alice)
    await socket.send_json_to({"type": "changes", "conversation": group.pk, "after_change_seq": 0})
    before, done = await receive_until(socket, "changes_done")
    replayed = [f for f in before if f["type"] == "reaction"]
    assert [(f["emoji"], f["on"], f["count"]) for f in replayed] == [("❤️", False, 0)]
    assert done["last_change_seq"] == replayed[-1]["change_seq"]
    await socket.disconnect()


@pytest.mark.django_db
def test_the_picker_searches_unicode_names(client_for):
    found = client_for(make_user()).get("/api/emoji/", {"search": "party popper"}).json()
    assert {"emoji": "🎉", "name": "party popper"} in found
