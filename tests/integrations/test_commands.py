"""Slash commands: /me, /shrug, /topic built in; registered commands POST the invocation, signed,
to a real receiver on 127.0.0.1 and answer the caller only (an `ephemeral` frame, not stored)
or the whole conversation (posted by the command's bot)."""

import json

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from integrations.commands import SHRUG
from tests.factories import access_token, make_group, make_user
from tests.integrations.receiver import http_receiver, signature_valid
from tests.ws import ready_socket, receive, receive_nothing, receive_until

db = database_sync_to_async


def as_user(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(user)}")
    return client


def run(user, conversation_id: int, text: str, cid: str | None = None):
    body = {"text": text} if cid is None else {"text": text, "client_msg_id": cid}
    return as_user(user).post(
        f"/api/conversations/{conversation_id}/commands/", body, format="json"
    )


def bodies(user, conversation_id: int) -> list[str]:
    page = as_user(user).get(f"/api/conversations/{conversation_id}/messages/").json()
    return [m["body"] for m in page["results"] if not m.get("system")]


def register(user, url: str, conversations, **extra) -> dict:
    response = as_user(user).post(
        "/api/commands/",
        {"command": "/deploy", "url": url, "conversations": conversations, **extra},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def loopback(settings):
    settings.PARLEY_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.mark.django_db
def test_me_shrug_and_topic_are_built_in():
    alice, bob = make_user("alice"), make_user("bob")
    group = make_group(alice, bob, name="ops")
    me = run(alice, group.pk, "/me waves", cid="me-1")
    assert me.status_code == 200 and me.json()["ack"]["client_msg_id"] == "me-1"
    assert run(alice, group.pk, "/me waves", cid="me-1").json()["ack"]["duplicate"] is True
    assert run(alice, group.pk, "/shrug no idea").status_code == 200
    assert bodies(bob, group.pk) == ["_alice waves_", f"no idea {SHRUG}"]
    # The body is Markdown; what people see keeps the shrug's arm.
    shown = as_user(bob).get(f"/api/conversations/{group.pk}/messages/").json()["results"][-1]
    assert shown["html"] == "<p>no idea ¯\\_(ツ)_/¯</p>"
    renamed = run(alice, group.pk, "/topic Release planning")
    assert renamed.status_code == 200 and renamed.json() == {"done": True}
    assert as_user(bob).get(f"/api/groups/{group.pk}/").json()["name"] == "Release planning"
    refused = run(bob, group.pk, "/topic Mine now")
    assert refused.status_code == 403
    unknown = run(alice, group.pk, "/nope")
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_command"
    suggested = as_user(bob).get(f"/api/conversations/{group.pk}/commands/").json()
    assert [c["command"] for c in suggested] == ["/me", "/shrug", "/topic"]


@pytest.mark.django_db
def test_a_registered_command_is_called_signed_and_answers_the_caller_only(loopback):
    alice = make_user("alice")
    group = make_group(alice, name="ops")
    with http_receiver() as receiver:
        receiver.respond = lambda n, r: (
            200,
            json.dumps({"text": f"deploying {r.json()['text']}"}).encode(),
            0.0,
        )
        command = register(alice, receiver.url, [group.pk])
        answer = run(alice, group.pk, "/deploy prod")
        [call] = receiver.requests
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {
        "ephemeral": {
            "type": "ephemeral",
            "conversation": group.pk,
            "command": "/deploy",
            "text": "deploying prod",
        }
    }
    assert signature_valid(command["secret"], call)
    assert call.headers["x-parley-event"] == "command"
    invocation = call.json()
    assert invocation["command"] == "/deploy" and invocation["text"] == "prod"
    assert invocation["user"] == {"id": alice.pk, "username": "alice"}
    assert invocation["conversation"] == group.pk
    assert invocation["delivery"] == call.headers["x-parley-delivery"]
    assert bodies(alice, group.pk) == []  # ephemeral: nothing stored
    listed = as_user(alice).get(f"/api/conversations/{group.pk}/commands/").json()
    assert "/deploy" in [c["command"] for c in listed]


@pytest.mark.django_db
def test_an_in_channel_answer_is_posted_by_the_command_s_bot(loopback):
    alice = make_user("alice")
    group = make_group(alice, name="ops")
    bot = as_user(alice).post("/api/bots/", {"username": "deployer"}, format="json").json()
    as_user(alice).post(f"/api/groups/{group.pk}/members/", {"user": bot["id"]}, format="json")
    with http_receiver() as receiver:
        receiver.respond = lambda n, r: (
            200,
            json.dumps({"response_type": "in_channel", "text": "prod deployed"}).encode(),
            0.0,
        )
        register(alice, receiver.url, [group.pk], bot=bot["id"])
        answer = run(alice, group.pk, "/deploy prod")
    assert answer.status_code == 200 and "ack" in answer.json()
    page = as_user(alice).get(f"/api/conversations/{group.pk}/messages/").json()["results"]
    assert (page[-1]["body"], page[-1]["sender"]["id"]) == ("prod deployed", bot["id"])


@pytest.mark.django_db
def test_failing_refused_and_clashing_commands(loopback, settings):
    alice, bob = make_user("alice"), make_user("bob")
    group = make_group(alice, bob, name="ops")
    with http_receiver() as receiver:
        receiver.respond = lambda n, r: (500, b"", 0.0)
        register(alice, receiver.url, [group.pk])
        failed = run(alice, group.pk, "/deploy prod")
        clash = as_user(alice).post(
            "/api/commands/",
            {"command": "/deploy", "url": receiver.url, "conversations": [group.pk]},
            format="json",
        )
    assert failed.status_code == 502 and failed.json()["code"] == "command_failed"
    assert clash.status_code == 400 and clash.json()["field"] == "command"
    built_in = as_user(alice).post(
        "/api/commands/",
        {"command": "/me", "url": "http://127.0.0.1/x", "conversations": [group.pk]},
        format="json",
    )
    assert built_in.status_code == 400
    member = as_user(bob).post(
        "/api/commands/",
        {"command": "/x", "url": "http://127.0.0.1/x", "conversations": [group.pk]},
        format="json",
    )
    assert member.status_code == 403
    settings.PARLEY_WEBHOOK_ALLOWED_HOSTS = []
    ssrf = as_user(alice).post(
        "/api/commands/",
        {"command": "/meta", "url": "http://169.254.169.254/", "conversations": [group.pk]},
        format="json",
    )
    assert ssrf.status_code == 400 and ssrf.json()["field"] == "url"


@pytest.mark.django_db(transaction=True)
async def test_commands_over_the_websocket_ephemeral_only_to_the_caller(settings):
    settings.PARLEY_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    group = await db(make_group)(alice, bob, name="ops")
    with http_receiver() as receiver:
        receiver.respond = lambda n, r: (200, b'{"text": "only you see this"}', 0.0)
        await db(register)(alice, receiver.url, [group.pk])
        caller, _ = await ready_socket(alice)
        other, _ = await ready_socket(bob)
        await caller.send_json_to(
            {"type": "command", "conversation": group.pk, "text": "/deploy", "client_msg_id": "k1"}
        )
        frame = await receive(caller, "ephemeral")
        assert frame == {
            "type": "ephemeral",
            "conversation": group.pk,
            "command": "/deploy",
            "text": "only you see this",
            "ref": "k1",
        }
        assert await receive_nothing(other)
        await caller.send_json_to(
            {"type": "command", "conversation": group.pk, "text": "/shrug", "client_msg_id": "k2"}
        )
        _, ack = await receive_until(caller, "ack")
        assert ack["client_msg_id"] == "k2"
        assert (await receive(other, "message"))["html"] == "<p>¯\\_(ツ)_/¯</p>"
        await caller.send_json_to(
            {"type": "command", "conversation": group.pk, "text": "/nope", "client_msg_id": "k3"}
        )
        error = await receive(caller, "error")
        assert (error["code"], error["ref"]) == ("unknown_command", "k3")
        await caller.disconnect()
        await other.disconnect()
