"""Client text the database cannot store (a lone UTF-16 surrogate such as JSON's "\\ud800", or
NUL) is refused as `bad_request` naming the field, the same way over REST and the WebSocket,
before it reaches the database; the socket stays open and keeps working."""

import json

import pytest
from channels.db import database_sync_to_async

from core.errors import BadRequest
from groups.services import group_create, group_update
from messaging.models import Message
from messaging.services import SendRequest, message_edit, message_send, message_send_many
from tests.factories import make_direct, make_group, make_users
from tests.ws import ready_socket, receive, receive_until

db = database_sync_to_async

SURROGATE = "\ud800"


def poisoned_json(data: dict) -> str:
    """`data` as JSON text with every "~" written as the escape \\ud800: valid JSON, as an
    attacker writes it, that decodes to a lone surrogate."""
    return json.dumps(data).replace("~", "\\ud800")


# --- services: the one check --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [f"a{SURROGATE}b", "\udfff", "a\x00b"])
def test_a_send_of_text_the_database_cannot_store_is_refused_and_the_others_are_stored(bad):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    first, poisoned, second = message_send_many(
        [
            SendRequest(alice, direct.pk, "a1", "before"),
            SendRequest(bob, direct.pk, "b1", bad),
            SendRequest(alice, direct.pk, "a2", "after"),
        ]
    )
    assert isinstance(poisoned, BadRequest) and poisoned.field == "body"
    assert (first["seq"], second["seq"]) == (1, 2)
    assert list(Message.objects.filter(conversation=direct).values_list("body", flat=True)) == [
        "before",
        "after",
    ]


@pytest.mark.django_db
def test_an_edit_to_a_lone_surrogate_is_refused():
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    ack = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="a1", body="hi")
    with pytest.raises(BadRequest) as refused:
        message_edit(
            editor=alice, conversation_id=direct.pk, message_id=int(ack["id"]), body=SURROGATE
        )
    assert refused.value.field == "body"
    assert Message.objects.get(pk=int(ack["id"])).body == "hi"


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [f"team {SURROGATE}", "team\x00"])
def test_group_names_and_descriptions_the_database_cannot_store_are_refused(bad):
    owner, member = make_users("owner", "member")
    with pytest.raises(BadRequest) as refused:
        group_create(creator=owner, name=bad, member_ids=[member.pk])
    assert refused.value.field == "name"
    group = make_group(owner, member)
    for field in ("name", "description"):
        with pytest.raises(BadRequest) as refused:
            group_update(actor=owner, group_id=group.pk, **{field: bad})
        assert refused.value.field == field
    group.refresh_from_db()
    assert (group.name, group.description) == ("team", "")


# --- WebSocket ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_socket_send_and_edit_with_a_lone_surrogate_get_bad_request_and_the_socket_works():
    alice, bob = await db(make_users)("alice", "bob")
    direct = await db(make_direct)(alice, bob)
    socket, _ = await ready_socket(alice)
    await socket.send_to(
        text_data=poisoned_json(
            {"type": "send", "conversation": direct.pk, "client_msg_id": "c1", "body": "a~b"}
        )
    )
    error = await receive(socket, "error")
    assert (error["code"], error["field"], error["ref"]) == ("bad_request", "body", "c1")
    assert "U+D800" in error["detail"]

    await socket.send_json_to(
        {"type": "send", "conversation": direct.pk, "client_msg_id": "c2", "body": "fine"}
    )
    _, ack = await receive_until(socket, "ack")
    await socket.send_to(
        text_data=poisoned_json(
            {"type": "edit", "conversation": direct.pk, "id": ack["id"], "body": "a~b"}
        )
    )
    _, error = await receive_until(socket, "error")  # after the live copy of "fine"
    assert (error["code"], error["field"]) == ("bad_request", "body")
    await socket.send_json_to(
        {"type": "edit", "conversation": direct.pk, "id": ack["id"], "body": "finer"}
    )
    assert (await receive_until(socket, "message_updated"))[1]["body"] == "finer"
    await socket.disconnect()
    stored = await db(lambda: list(Message.objects.values_list("client_msg_id", "body")))()
    assert stored == [("c2", "finer")]


# --- REST ---------------------------------------------------------------------------------------


def raw_json(client, method, path, data):
    """A request with poisoned_json(data) as its body (the test client cannot encode a lone
    surrogate itself)."""
    return getattr(client, method)(path, data=poisoned_json(data), content_type="application/json")


@pytest.mark.django_db
def test_rest_send_and_edit_with_a_lone_surrogate_are_a_json_400(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    client = client_for(alice)
    path = f"/api/conversations/{direct.pk}/messages/"
    sent = raw_json(client, "post", path, {"client_msg_id": "c1", "body": "a~b"})
    assert sent.status_code == 400
    assert (sent.json()["code"], sent.json()["field"]) == ("bad_request", "body")
    ack = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="c2", body="hi")
    edited = raw_json(client, "patch", f"{path}{ack['id']}/", {"body": "a~b"})
    assert edited.status_code == 400
    assert (edited.json()["code"], edited.json()["field"]) == ("bad_request", "body")
    assert list(Message.objects.values_list("body", flat=True)) == ["hi"]


@pytest.mark.django_db
def test_rest_group_create_and_rename_with_a_lone_surrogate_are_a_json_400(client_for):
    owner, member = make_users("owner", "member")
    client = client_for(owner)
    created = raw_json(client, "post", "/api/groups/", {"name": "a~b", "members": [member.pk]})
    assert created.status_code == 400
    assert (created.json()["code"], created.json()["field"]) == ("bad_request", "name")
    group = make_group(owner, member)
    for field in ("name", "description"):
        renamed = raw_json(client, "patch", f"/api/groups/{group.pk}/", {field: "a~b"})
        assert renamed.status_code == 400
        assert (renamed.json()["code"], renamed.json()["field"]) == ("bad_request", field)


@pytest.mark.django_db
def test_a_push_endpoint_with_a_lone_surrogate_is_a_json_400(client_for):
    (alice,) = make_users("alice")
    body = {"endpoint": "https://push.example/~", "keys": {"p256dh": "k", "auth": "a"}}
    response = raw_json(client_for(alice), "post", "/api/push/webpush/subscriptions/", body)
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("bad_request", "endpoint")


@pytest.mark.django_db(transaction=True)
async def test_rest_and_the_socket_answer_a_lone_surrogate_alike(client_for):
    alice, bob = await db(make_users)("alice", "bob")
    direct = await db(make_direct)(alice, bob)
    rest = await db(raw_json)(
        client_for(alice),
        "post",
        f"/api/conversations/{direct.pk}/messages/",
        {"client_msg_id": "c1", "body": "a~b"},
    )
    socket, _ = await ready_socket(alice)
    await socket.send_to(
        text_data=poisoned_json(
            {"type": "send", "conversation": direct.pk, "client_msg_id": "c1", "body": "a~b"}
        )
    )
    frame = await receive(socket, "error")
    await socket.disconnect()
    assert {k: rest.json()[k] for k in ("code", "detail", "field")} == {
        k: frame[k] for k in ("code", "detail", "field")
    }
