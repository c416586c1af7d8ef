"""Bots and API tokens: shown once, stored hashed, scoped, revocable; they authenticate REST and
the WebSocket beside JWTs, and sockets close with 4401 when their token stops working."""

import datetime as dt

import pytest
import time_machine
from channels.db import database_sync_to_async
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from integrations.models import ApiToken
from tests.factories import access_token, make_group, make_user, person
from tests.ws import close_code, open_socket, ready_socket, receive

db = database_sync_to_async


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


def create_bot(owner, username="ci-bot", display_name="CI") -> dict:
    body = {
        "username": username,
        "display_name": display_name,
        "avatar_url": "https://ci.example.com/logo.png",
    }
    response = with_token(access_token(owner)).post("/api/bots/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def create_token(user, **body) -> dict:
    body = {"name": "laptop script", **body}
    response = with_token(access_token(user)).post("/api/me/tokens/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def send(token: str, conversation_id: int, text: str, cid: str = "c1"):
    return with_token(token).post(
        f"/api/conversations/{conversation_id}/messages/",
        {"body": text, "client_msg_id": cid},
        format="json",
    )


@pytest.mark.django_db
def test_a_bot_is_created_with_a_token_shown_once_and_posts_in_a_group_as_itself():
    alice = make_user("alice")
    bot = create_bot(alice)
    assert bot["username"] == "ci-bot" and bot["is_bot"] is True
    assert bot["avatar_url"] == "https://ci.example.com/logo.png"
    assert bot["token"].startswith("parley_")
    # Listed without its token; only a digest and a prefix are stored.
    listed = with_token(access_token(alice)).get("/api/bots/").json()
    assert [b["id"] for b in listed] == [bot["id"]] and "token" not in listed[0]
    stored = ApiToken.objects.get(user_id=bot["id"])
    assert bot["token"] not in (stored.digest, stored.prefix)
    assert bot["token"].startswith(stored.prefix)

    me = with_token(bot["token"]).get("/api/me/").json()
    assert me == {**person(User.objects.get(pk=bot["id"])), "is_bot": True}
    assert me["display_name"] == bot["display_name"]
    group = make_group(alice, name="ops")
    add = with_token(access_token(alice)).post(
        f"/api/groups/{group.pk}/members/", {"user": bot["id"]}, format="json"
    )
    assert add.status_code in (200, 201), add.json()
    sent = send(bot["token"], group.pk, "build green")
    assert sent.status_code == 201, sent.json()
    history = with_token(access_token(alice)).get(f"/api/conversations/{group.pk}/messages/")
    assert history.json()["results"][-1]["sender"]["username"] == "ci-bot"


@pytest.mark.django_db
def test_a_bot_cannot_log_in_with_a_password_nor_manage_tokens():
    alice = make_user("alice")
    bot = create_bot(alice)
    from accounts.models import User

    account = User.objects.get(pk=bot["id"])
    account.set_password("a-password-someone-set-9")
    account.save()
    login = APIClient().post(
        "/api/auth/token/",
        {"username": "ci-bot", "password": "a-password-someone-set-9"},
        format="json",
    )
    assert login.status_code == 401
    refused = with_token(bot["token"]).post("/api/me/tokens/", {"name": "x"}, format="json")
    assert refused.status_code == 403


@pytest.mark.django_db
def test_bot_names_follow_the_username_policy_and_are_unique():
    alice = make_user("alice")
    client = with_token(access_token(alice))
    taken = client.post("/api/bots/", {"username": "ALICE"}, format="json")
    assert taken.status_code == 400 and taken.json()["field"] == "username"
    bad = client.post("/api/bots/", {"username": "no spaces"}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "username"


@pytest.mark.django_db
def test_scopes_limit_what_a_personal_token_may_do_and_last_use_is_recorded():
    alice = make_user("alice")
    read_only = create_token(alice, scopes=["read"])
    assert read_only["scopes"] == ["read"] and read_only["last_used_at"] is None
    group = make_group(alice)
    assert with_token(read_only["token"]).get("/api/conversations/").status_code == 200
    refused = send(read_only["token"], group.pk, "hi")
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
    # Managing tokens needs `admin`.
    listing = with_token(read_only["token"]).get("/api/me/tokens/")
    assert listing.status_code == 403 and listing.json()["code"] == "insufficient_scope"
    admin = create_token(alice, scopes=["read", "write", "admin"])
    tokens = with_token(admin["token"]).get("/api/me/tokens/").json()
    by_id = {t["id"]: t for t in tokens}
    assert by_id[read_only["id"]]["last_used_at"] is not None
    assert "token" not in by_id[read_only["id"]]
    assert send(admin["token"], group.pk, "hi").status_code == 201


@pytest.mark.django_db
def test_bad_scopes_and_expiry_are_refused_with_the_field_named():
    alice = make_user("alice")
    client = with_token(access_token(alice))
    bad = client.post("/api/me/tokens/", {"name": "x", "scopes": ["root"]}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "scopes"
    bad = client.post("/api/me/tokens/", {"name": "x", "expires_in": 5}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "expires_in"


@pytest.mark.django_db
def test_an_expired_token_and_a_revoked_token_are_refused():
    alice = make_user("alice")
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
        short = create_token(alice, expires_in=3600)
        assert with_token(short["token"]).get("/api/me/").status_code == 200
        clock.shift(dt.timedelta(seconds=3601))
        expired = with_token(short["token"]).get("/api/me/")
        assert expired.status_code == 401 and expired.json()["code"] == "token_invalid"
    other = create_token(alice)
    gone = with_token(access_token(alice)).delete(f"/api/me/tokens/{other['id']}/")
    assert gone.status_code == 204
    assert with_token(other["token"]).get("/api/me/").status_code == 401
    assert with_token("parley_not-a-token").get("/api/me/").status_code == 401
    again = with_token(access_token(alice)).delete(f"/api/me/tokens/{other['id']}/")
    assert again.status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_a_read_only_token_s_socket_reads_but_may_not_send():
    alice = await db(make_user)("alice")
    group = await db(make_group)(alice)
    token = (await db(create_token)(alice, scopes=["read"]))["token"]
    socket, ready = await ready_socket(None, headers=bearer(token))
    assert ready["user"]["id"] == alice.pk
    await socket.send_json_to(
        {"type": "send", "conversation": group.pk, "client_msg_id": "x", "body": "hi"}
    )
    error = await receive(socket, "error")
    assert error["code"] == "insufficient_scope" and error["ref"] == "x"
    await socket.send_json_to({"type": "ping"})
    assert (await receive(socket))["type"] == "pong"
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_revoking_a_token_closes_its_sockets_with_4401():
    alice = await db(make_user)("alice")
    token = await db(create_token)(alice)
    socket, _ = await ready_socket(None, headers=bearer(token["token"]))
    other, _ = await ready_socket(alice)  # a JWT socket of the same person stays open
    response = await db(
        lambda: with_token(access_token(alice)).delete(f"/api/me/tokens/{token['id']}/")
    )()
    assert response.status_code == 204
    assert await close_code(socket, wait=10) == 4401
    again = await open_socket(None, headers=bearer(token["token"]))
    assert await close_code(again) == 4401
    await other.send_json_to({"type": "ping"})
    assert (await receive(other))["type"] == "pong"
    await other.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_rotating_and_deactivating_a_bot_close_its_sockets_with_4401():
    alice = await db(make_user)("alice")
    bot = await db(create_bot)(alice)
    old_socket, ready = await ready_socket(None, headers=bearer(bot["token"]))
    assert ready["user"]["username"] == "ci-bot"

    rotate = lambda: with_token(access_token(alice)).post(f"/api/bots/{bot['id']}/token/")  # noqa: E731
    rotated = (await db(rotate)()).json()
    assert rotated["token"] != bot["token"]
    assert await close_code(old_socket, wait=10) == 4401
    assert (await db(lambda: with_token(bot["token"]).get("/api/me/"))()).status_code == 401
    new_socket, _ = await ready_socket(None, headers=bearer(rotated["token"]))

    delete = lambda: with_token(access_token(alice)).delete(f"/api/bots/{bot['id']}/")  # noqa: E731
    assert (await db(delete)()).status_code == 204
    assert await close_code(new_socket, wait=10) == 4401
    assert (await db(lambda: with_token(rotated["token"]).get("/api/me/"))()).status_code == 401
    listed = (await db(lambda: with_token(access_token(alice)).get("/api/bots/"))()).json()
    assert listed[0]["is_active"] is False


@pytest.mark.django_db
def test_only_the_owner_manages_a_bot():
    alice, mallory = make_user("alice"), make_user("mallory")
    bot = create_bot(alice)
    client = with_token(access_token(mallory))
    assert client.delete(f"/api/bots/{bot['id']}/").status_code == 404
    assert client.post(f"/api/bots/{bot['id']}/token/").status_code == 404
    assert client.get("/api/bots/").json() == []


@pytest.mark.django_db
def test_staff_list_and_revoke_tokens_in_the_admin():
    alice = make_user("alice")
    token = create_token(alice)
    staff = Client()
    staff.force_login(make_user("mod", is_staff=True, is_superuser=True))
    page = staff.get("/admin/integrations/apitoken/")
    assert page.status_code == 200 and token["prefix"] in page.content.decode()
    assert token["token"] not in page.content.decode()
    done = staff.post(
        "/admin/integrations/apitoken/",
        {"action": "revoke", "_selected_action": [token["id"]]},
    )
    assert done.status_code == 302
    assert with_token(token["token"]).get("/api/me/").status_code == 401
    assert staff.get("/admin/integrations/bot/").status_code == 200


@pytest.mark.django_db
def test_people_see_which_users_are_bots_and_bots_get_no_browser_page():
    alice, bob = make_user("alice"), make_user("bob")
    bot = create_bot(alice)
    group = make_group(alice, bob, name="ops")
    with_token(access_token(alice)).post(
        f"/api/groups/{group.pk}/members/", {"user": bot["id"]}, format="json"
    )
    known = with_token(access_token(bob)).get("/api/bots/known/").json()
    assert [(b["id"], b["is_bot"]) for b in known] == [(bot["id"], True)]
    assert with_token(access_token(make_user("carol"))).get("/api/bots/known/").json() == []
    found = with_token(access_token(bob)).get("/api/users/?search=ci-").json()
    assert found == [{**person(User.objects.get(pk=bot["id"])), "is_bot": True}]

    browser = Client()
    browser.force_login(User.objects.get(pk=bot["id"]))
    assert browser.get("/").status_code == 403
