"""POST /api/conversations/{id}/read/ and the receipt state in REST history."""

import pytest

from messaging.services import message_send
from tests.factories import make_direct, make_group, make_users

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat():
    alice, bob, eve = make_users("alice", "bob", "eve")
    direct = make_direct(alice, bob)
    for i in range(3):
        message_send(sender=alice, conversation_id=direct.pk, client_msg_id=f"a{i}", body="hi")
    return alice, bob, eve, direct


def test_read_moves_the_cursors_and_clears_unread(client_for, chat):
    alice, bob, _, direct = chat
    response = client_for(bob).post(
        f"/api/conversations/{direct.pk}/read/", {"seq": 2}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {
        "type": "receipt",
        "conversation": direct.pk,
        "user": bob.pk,
        "delivered_seq": 2,
        "read_seq": 2,
    }
    (summary,) = client_for(bob).get("/api/conversations/").json()
    assert (summary["read_seq"], summary["unread"]) == (2, 1)
    history = client_for(alice).get(f"/api/conversations/{direct.pk}/messages/").json()
    assert [m["status"] for m in history["results"]] == ["read", "read", "sent"]


def test_a_lower_seq_changes_nothing_and_is_no_error(client_for, chat):
    _, bob, _, direct = chat
    client_for(bob).post(f"/api/conversations/{direct.pk}/read/", {"seq": 3}, format="json")
    response = client_for(bob).post(
        f"/api/conversations/{direct.pk}/read/", {"seq": 1}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["delivered_seq"], response.json()["read_seq"]) == (3, 3)


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"seq": 4}, 400, "seq"),
        ({"seq": -1}, 400, "seq"),
        ({"seq": "x"}, 400, "seq"),
        ({}, 400, "seq"),
    ],
)
def test_bad_seq_is_a_documented_error(client_for, chat, payload, status, field):
    _, bob, _, direct = chat
    response = client_for(bob).post(f"/api/conversations/{direct.pk}/read/", payload, format="json")
    assert response.status_code == status
    body = response.json()
    assert body.get("field") == field or field in body, body


def test_a_stranger_gets_not_found(client_for, chat, anon_client):
    _, _, eve, direct = chat
    response = client_for(eve).post(
        f"/api/conversations/{direct.pk}/read/", {"seq": 1}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert anon_client.post(f"/api/conversations/{direct.pk}/read/", {"seq": 1}).status_code == 401


def test_read_endpoint_is_in_the_openapi_schema(client_for, chat):
    schema = client_for(chat[0]).get("/api/schema/?format=json").json()
    assert "post" in schema["paths"]["/api/conversations/{conversation_id}/read/"]
    assert "get" in schema["paths"]["/api/presence/"]


def test_group_history_still_counts_readers_who_left_or_were_removed(client_for):
    alice, bob, carol, dave = make_users("alice", "bob", "carol", "dave")
    group = make_group(alice, bob, carol, dave)
    message_send(sender=alice, conversation_id=group.pk, client_msg_id="g1", body="lunch?")
    for reader in (bob, carol):
        response = client_for(reader).post(
            f"/api/conversations/{group.pk}/read/", {"seq": 1}, format="json"
        )
        assert response.status_code == 200

    def counts():
        history = client_for(alice).get(f"/api/conversations/{group.pk}/messages/").json()
        return [
            (m["delivered_count"], m["read_count"]) for m in history["results"] if m["seq"] == 1
        ]

    assert counts() == [(2, 2)]
    assert client_for(bob).post(f"/api/groups/{group.pk}/leave/").status_code == 204
    assert (
        client_for(alice).delete(f"/api/groups/{group.pk}/members/{carol.pk}/").status_code == 204
    )
    assert counts() == [(2, 2)]
    # Carol comes back and reads everything: she read message 1 once, so it stays read by 2.
    added = client_for(alice).post(
        f"/api/groups/{group.pk}/members/", {"user": carol.pk}, format="json"
    )
    assert added.status_code == 201, added.json()
    (summary,) = [
        s for s in client_for(carol).get("/api/conversations/").json() if s["id"] == group.pk
    ]
    client_for(carol).post(
        f"/api/conversations/{group.pk}/read/", {"seq": summary["last_seq"]}, format="json"
    )
    assert counts() == [(2, 2)]
