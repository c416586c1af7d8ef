"""Replies and threads: reply_to on send (REST and WebSocket), the quoted parent, thread
summaries kept current and replayed by `changes`, and the threads endpoint."""

import pytest
from channels.db import database_sync_to_async

from messaging.services import message_delete, message_send
from tests.factories import make_direct, make_group, make_users, person
from tests.ws import ready_socket, receive, receive_until

db = database_sync_to_async


def _post(client, conversation, cid, body, **extra):
    return client.post(
        f"/api/conversations/{conversation.pk}/messages/",
        {"client_msg_id": cid, "body": body, **extra},
        format="json",
    )


def _history(client, conversation):
    page = client.get(f"/api/conversations/{conversation.pk}/messages/").json()["results"]
    return {m["id"]: m for m in page}


@pytest.mark.django_db
def test_a_reply_quotes_its_parent_and_joins_its_thread(
    client_for, django_capture_on_commit_callbacks
):
    alice, bob = make_users("alice", "bob")
    group = make_group(alice, bob)
    root = message_send(sender=alice, conversation_id=group.pk, client_msg_id="r", body="x" * 150)
    first = _post(client_for(bob), group, "b1", "first", reply_to=root["id"])
    assert first.status_code == 201
    second = _post(client_for(alice), group, "a2", "second", reply_to=first.json()["id"])
    assert second.status_code == 201

    messages = _history(client_for(bob), group)
    reply = messages[first.json()["id"]]
    assert reply["reply_to"] == {
        "id": root["id"],
        "seq": root["seq"],
        "sender": person(alice),
        "excerpt": "x" * 100,
    }
    assert reply["thread"] == root["id"]
    # A reply to a reply stays in the root's thread.
    nested = messages[second.json()["id"]]
    assert nested["reply_to"]["id"] == first.json()["id"] and nested["thread"] == root["id"]
    summary = messages[root["id"]]["thread_summary"]
    assert summary["replies"] == 2 and summary["participants"] == [bob.pk, alice.pk]
    assert summary["last_reply_at"]
    # Replies are ordinary messages: consecutive seqs after the root.
    assert [reply["seq"], nested["seq"]] == [root["seq"] + 1, root["seq"] + 2]

    thread = client_for(bob).get(f"/api/conversations/{group.pk}/threads/{root['id']}/")
    assert thread.status_code == 200
    assert [m["body"] for m in thread.json()["results"]] == ["first", "second"]
    assert thread.json()["root"]["thread_summary"]["replies"] == 2
    paged = (
        client_for(bob)
        .get(
            f"/api/conversations/{group.pk}/threads/{root['id']}/",
            {"after_seq": reply["seq"], "limit": 1},
        )
        .json()
    )
    assert [m["body"] for m in paged["results"]] == ["second"] and paged["has_more"] is False

    # A deleted parent leaves an empty excerpt; it can still be answered.
    with django_capture_on_commit_callbacks(execute=True):
        message_delete(actor=alice, conversation_id=group.pk, message_id=int(root["id"]))
    assert _history(client_for(bob), group)[first.json()["id"]]["reply_to"]["excerpt"] == ""
    assert _post(client_for(bob), group, "b3", "late", reply_to=root["id"]).status_code == 201


@pytest.mark.django_db
def test_reply_to_another_conversation_or_garbage_is_refused_and_an_unknown_id_is_fine(client_for):
    alice, bob, carol = make_users("alice", "bob", "carol")
    group = make_group(alice, bob)
    elsewhere = make_direct(alice, carol)
    foreign = message_send(sender=carol, conversation_id=elsewhere.pk, client_msg_id="c", body="x")
    for reply_to in (foreign["id"], "abc", "-1", True, {"id": 1}):
        response = _post(client_for(alice), group, f"a-{reply_to!s:.5}", "hi", reply_to=reply_to)
        assert response.status_code == 400, reply_to
        assert response.json()["field"] == "reply_to"
    assert _history(client_for(alice), group) == {
        m_id: m for m_id, m in _history(client_for(alice), group).items() if not m["sender"]
    }
    # An unknown id is accepted (the contract's "unknown ... is fine"): nothing to quote.
    unknown = _post(client_for(alice), group, "a-unknown", "hi", reply_to="999999999")
    assert unknown.status_code == 201, unknown.json()
    stored = _history(client_for(bob), group)[unknown.json()["id"]]
    assert stored["reply_to"] == {"id": "999999999", "seq": None, "sender": None, "excerpt": ""}
    assert stored["thread"] == "999999999"
    missing = client_for(carol).get(f"/api/conversations/{group.pk}/threads/{foreign['id']}/")
    assert missing.status_code == 404
    not_root = client_for(alice).get(f"/api/conversations/{elsewhere.pk}/threads/1/")
    assert not_root.status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_replies_over_the_socket_and_summaries_through_changes():
    alice, bob = await db(make_users)("alice", "bob")
    group = await db(make_group)(alice, bob)
    root = await db(message_send)(
        sender=alice, conversation_id=group.pk, client_msg_id="root", body="plan?"
    )
    socket, ready = await ready_socket(bob)
    [summary] = [c for c in ready["conversations"] if c["id"] == group.pk]
    await socket.send_json_to(
        {
            "type": "send",
            "conversation": group.pk,
            "client_msg_id": "b1",
            "body": "yes",
            "reply_to": root["id"],
        }
    )
    before, updated = await receive_until(socket, "thread_updated")
    [frame] = [f for f in before if f["type"] == "message"]
    assert frame["reply_to"]["excerpt"] == "plan?" and frame["thread"] == root["id"]
    assert updated["id"] == root["id"] and updated["thread_summary"]["replies"] == 1
    assert updated["change_seq"] > summary["last_change_seq"]
    await socket.send_json_to(
        {
            "type": "send",
            "conversation": group.pk,
            "client_msg_id": "b2",
            "body": "x",
            "reply_to": "12x45",
        }
    )
    _, error = await receive_until(socket, "error")
    assert error["code"] == "bad_request" and error["field"] == "reply_to"
    await socket.disconnect()

    # Alice was away: `changes` brings the thread summary.
    socket, _ = await ready_socket(alice)
    await socket.send_json_to({"type": "changes", "conversation": group.pk, "after_change_seq": 0})
    _, replayed = await receive_until(socket, "thread_updated")
    assert replayed["thread_summary"]["replies"] == 1
    assert replayed["thread_summary"]["participants"] == [bob.pk]
    done = await receive(socket, "changes_done")
    assert done["last_change_seq"] == replayed["change_seq"]
    await socket.disconnect()


@pytest.mark.django_db
def test_a_deleted_reply_stops_counting_in_its_thread(client_for):
    alice, bob, carol = make_users("alice", "bob", "carol")
    group = make_group(alice, bob, carol)
    root = message_send(sender=alice, conversation_id=group.pk, client_msg_id="r", body="q")
    by_bob = _post(client_for(bob), group, "b", "one", reply_to=root["id"]).json()
    _post(client_for(carol), group, "c", "two", reply_to=root["id"])
    summary = _history(client_for(alice), group)[root["id"]]["thread_summary"]
    assert summary["replies"] == 2 and summary["participants"] == [bob.pk, carol.pk]

    assert (
        client_for(bob)
        .delete(f"/api/conversations/{group.pk}/messages/{by_bob['id']}/")
        .status_code
        == 200
    )
    changes = client_for(alice).get(f"/api/conversations/{group.pk}/changes/").json()["results"]
    [thread] = [c for c in changes if c["type"] == "thread_updated"]
    assert thread["thread_summary"]["replies"] == 1
    assert thread["thread_summary"]["participants"] == [carol.pk]
