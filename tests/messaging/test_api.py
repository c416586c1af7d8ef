import pytest

from messaging.models import Message
from messaging.services import message_send
from tests.factories import make_direct, make_group, make_user, person

pytestmark = pytest.mark.django_db


def send(client, conversation_id, client_msg_id, body="hello"):
    return client.post(
        f"/api/conversations/{conversation_id}/messages/",
        {"client_msg_id": client_msg_id, "body": body},
        format="json",
    )


def test_direct_conversation_is_one_per_pair(client_for):
    alice, bob = make_user("alice"), make_user("bob")
    first = client_for(alice).post("/api/conversations/direct/", {"user": bob.pk}, format="json")
    assert first.status_code == 201
    again = client_for(alice).post("/api/conversations/direct/", {"user": bob.pk}, format="json")
    other_side = client_for(bob).post(
        "/api/conversations/direct/", {"user": alice.pk}, format="json"
    )
    assert again.status_code == other_side.status_code == 200
    assert first.json()["id"] == again.json()["id"] == other_side.json()["id"]
    assert first.json()["title"] == "bob" and other_side.json()["title"] == "alice"
    assert first.json()["members"] == [
        person(alice),
        person(bob),
    ]


@pytest.mark.parametrize(("other", "status"), [("self", 400), (99999, 404), ("text", 400)])
def test_direct_conversation_bad_targets(client_for, other, status):
    alice = make_user("alice")
    target = alice.pk if other == "self" else other
    response = client_for(alice).post("/api/conversations/direct/", {"user": target}, format="json")
    assert response.status_code == status
    assert isinstance(response.json(), dict)


def test_group_create_and_listing(client_for):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    response = client_for(alice).post(
        "/api/groups/", {"name": "Team", "members": [bob.pk, carol.pk]}, format="json"
    )
    assert response.status_code == 201
    group = response.json()
    assert group["kind"] == "group" and group["title"] == "Team"
    assert [m["username"] for m in group["members"]] == ["alice", "bob", "carol"]
    listed = client_for(bob).get("/api/conversations/").json()
    assert [c["id"] for c in listed] == [group["id"]]
    assert set(listed[0]) >= {"id", "kind", "title", "members", "last_seq", "read_seq", "unread"}


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "", "members": []},
        {"name": "   "},
        {"members": [1]},
        {"name": "x", "members": [424242]},
    ],
)
def test_group_create_bad_input_is_400(client_for, payload):
    alice = make_user("alice")
    response = client_for(alice).post("/api/groups/", payload, format="json")
    assert response.status_code == 400
    assert isinstance(response.json(), dict)


def test_group_member_limit(client_for, settings):
    settings.PARLEY_GROUP_MEMBER_LIMIT = 2
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    response = client_for(alice).post(
        "/api/groups/", {"name": "Big", "members": [bob.pk, carol.pk]}, format="json"
    )
    assert response.status_code == 400
    assert "at most 2" in response.json()["detail"]


def test_send_acks_and_repeat_is_a_duplicate(client_for):
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    first = send(client_for(alice), direct.pk, "c-1", "hi")
    assert first.status_code == 201
    ack = first.json()
    assert ack["seq"] == 1 and ack["duplicate"] is False and ack["conversation"] == direct.pk
    repeat = send(client_for(alice), direct.pk, "c-1", "hi")
    assert repeat.status_code == 200
    assert repeat.json() == {**ack, "duplicate": True}
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"client_msg_id": "ok", "body": ""}, "body"),
        ({"client_msg_id": "ok", "body": " \n\t "}, "body"),
        ({"client_msg_id": "ok", "body": "x" * 4001}, "body"),
        ({"client_msg_id": "has space", "body": "hi"}, "client_msg_id"),
        ({"client_msg_id": "x" * 65, "body": "hi"}, "client_msg_id"),
        ({"client_msg_id": "", "body": "hi"}, "client_msg_id"),
    ],
)
def test_send_validation_errors(client_for, payload, field):
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    response = client_for(alice).post(
        f"/api/conversations/{direct.pk}/messages/", payload, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request" and response.json()["field"] == field
    assert Message.objects.count() == 0


def test_body_of_exactly_4000_characters_is_accepted(client_for):
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    assert send(client_for(alice), direct.pk, "long", "é" * 4000).status_code == 201


def test_same_client_msg_id_in_another_conversation_is_a_conflict(client_for):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    one, two = make_direct(alice, bob), make_direct(alice, carol)
    assert send(client_for(alice), one.pk, "dup").status_code == 201
    response = send(client_for(alice), two.pk, "dup")
    assert response.status_code == 409 and response.json()["code"] == "conflict"


def test_history_pages(client_for):
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    for n in range(1, 11):
        message_send(
            sender=alice if n % 2 else bob,
            conversation_id=direct.pk,
            client_msg_id=f"m{n}",
            body=f"m{n}",
        )
    client = client_for(bob)
    url = f"/api/conversations/{direct.pk}/messages/"

    after = client.get(url, {"after_seq": 3, "limit": 4}).json()
    assert [m["seq"] for m in after["results"]] == [4, 5, 6, 7] and after["has_more"] is True
    before = client.get(url, {"before_seq": 5, "limit": 3}).json()
    assert [m["seq"] for m in before["results"]] == [2, 3, 4] and before["has_more"] is True
    newest = client.get(url, {"limit": 3}).json()
    assert [m["seq"] for m in newest["results"]] == [8, 9, 10] and newest["last_seq"] == 10
    everything = client.get(url, {"after_seq": 0}).json()
    assert [m["body"] for m in everything["results"]] == [f"m{n}" for n in range(1, 11)]
    assert everything["has_more"] is False
    first = everything["results"][0]
    assert set(first) == {
        "type",
        "conversation",
        "id",
        "seq",
        "sender",
        "client_msg_id",
        "body",
        "created_at",
        "edited_at",
        "deleted",
        "system",
        "attachments",
        "previews",
        "html",
        "mentions",
        "mentions_all",
    }
    assert first["sender"] == person(alice) and isinstance(first["id"], str)


@pytest.mark.parametrize(
    "query",
    [
        "after_seq=-1",
        "limit=0",
        "limit=501",
        "after_seq=abc",
        "after_seq=1&before_seq=5",
        "before_seq=0",
    ],
)
def test_history_bad_query_is_400(client_for, query):
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    response = client_for(alice).get(f"/api/conversations/{direct.pk}/messages/?{query}")
    assert response.status_code == 400
    assert isinstance(response.json(), dict)


def test_unread_counts_only_messages_from_others(client_for):
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    for n in range(3):
        message_send(sender=bob, conversation_id=direct.pk, client_msg_id=f"b{n}", body="hi")
    message_send(sender=alice, conversation_id=direct.pk, client_msg_id="a", body="hi")
    [summary] = client_for(alice).get("/api/conversations/").json()
    assert summary["unread"] == 3 and summary["last_seq"] == 4 and summary["read_seq"] == 0
    [summary] = client_for(bob).get("/api/conversations/").json()
    assert summary["unread"] == 1


def test_conversations_sorted_by_recent_activity(client_for):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    older, newer = make_direct(alice, bob), make_direct(alice, carol)
    message_send(sender=bob, conversation_id=older.pk, client_msg_id="1", body="x")
    message_send(sender=carol, conversation_id=newer.pk, client_msg_id="2", body="x")
    assert [c["id"] for c in client_for(alice).get("/api/conversations/").json()] == [
        newer.pk,
        older.pk,
    ]
    message_send(sender=bob, conversation_id=older.pk, client_msg_id="3", body="x")
    assert [c["id"] for c in client_for(alice).get("/api/conversations/").json()] == [
        older.pk,
        newer.pk,
    ]


def test_non_members_get_404_and_no_content(client_for):
    alice, bob, eve = make_user("alice"), make_user("bob"), make_user("eve")
    direct = make_direct(alice, bob)
    message_send(sender=alice, conversation_id=direct.pk, client_msg_id="secret", body="secret")
    eve_client = client_for(eve)
    for response in (
        eve_client.get(f"/api/conversations/{direct.pk}/messages/"),
        send(eve_client, direct.pk, "e1"),
        eve_client.get("/api/conversations/424242/messages/"),
    ):
        assert response.status_code == 404
        assert "secret" not in response.content.decode()
    assert Message.objects.count() == 1
    assert eve_client.get("/api/conversations/").json() == []


def test_group_history_is_visible_to_members(client_for):
    alice, bob = make_user("alice"), make_user("bob")
    group = make_group(alice, bob)
    assert send(client_for(bob), group.pk, "g1", "hi all").status_code == 201
    results = client_for(alice).get(f"/api/conversations/{group.pk}/messages/").json()["results"]
    assert [m["body"] for m in results] == ["hi all"]


def test_unknown_api_path_is_json_404(client_for):
    response = client_for(make_user("alice")).get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_openapi_schema_documents_the_contract(anon_client):
    response = anon_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/auth/register/",
        "/api/auth/token/",
        "/api/auth/token/refresh/",
        "/api/me/",
        "/api/users/",
        "/api/conversations/",
        "/api/conversations/direct/",
        "/api/groups/",
        "/api/conversations/{conversation_id}/messages/",
    ]:
        assert path in paths, path


def test_api_docs_page_is_served(anon_client):
    assert anon_client.get("/api/docs/").status_code == 200
