"""The security pass: who may connect, read and write, over REST and the WebSocket."""

import base64
import json
from datetime import timedelta

import jwt
import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from messaging.models import Message
from messaging.services import message_send
from tests.factories import PASSWORD, access_token, make_direct, make_group, make_user
from tests.ws import close_code, open_socket, ready_socket, receive

db = database_sync_to_async


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bad_tokens(user) -> dict[str, str]:
    """Tokens for `user` that must all be refused."""
    good = access_token(user)
    header, payload, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    forged_payload = _b64({**claims, "user_id": str(user.pk + 1000)})
    return {
        "forged": f"{header}.{forged_payload}.{signature}",
        "bad_signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "expired": str(expired),
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "other_key": jwt.encode(claims, "another-secret-key-that-is-long-enough-x", "HS256"),
        # The server's own key, but an algorithm it does not sign with.
        "other_algorithm": jwt.encode(claims, settings.SECRET_KEY + "x" * 64, "HS512"),
    }


@pytest.mark.django_db
def test_bad_tokens_are_refused_on_rest():
    alice = make_user("alice")
    for name, token in bad_tokens(alice).items():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.get("/api/me/")
        assert response.status_code == 401, name


@pytest.mark.django_db(transaction=True)
async def test_bad_tokens_are_refused_on_the_socket():
    alice = await db(make_user)("alice")
    for name, token in (await db(bad_tokens)(alice)).items():
        socket = await open_socket(None, headers=[(b"authorization", f"Bearer {token}".encode())])
        assert await close_code(socket) == 4401, name
        socket = await open_socket(None, headers=[], path=f"/ws/?token={token}")
        assert await close_code(socket) == 4401, name


@pytest.mark.django_db(transaction=True)
async def test_tokens_of_deleted_or_banned_users_are_refused():
    gone, banned = await db(make_user)("gone"), await db(make_user)("banned")
    gone_token, banned_token = access_token(gone), access_token(banned)
    await db(gone.delete)()
    banned.is_active = False
    await db(banned.save)(update_fields=["is_active"])
    for token in (gone_token, banned_token):
        socket = await open_socket(None, headers=[(b"authorization", f"Bearer {token}".encode())])
        assert await close_code(socket) == 4401

        def rest(token=token):
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            return client.get("/api/me/").status_code

        assert await db(rest)() == 401


@pytest.mark.django_db(transaction=True)
async def test_cross_site_websocket_hijacking_is_refused():
    alice = await db(make_user)("alice")

    def cookie():
        client = Client()
        client.force_login(alice)
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    headers = [(b"cookie", await db(cookie)()), (b"origin", b"https://attacker.example")]
    socket = await open_socket(None, headers=headers)
    assert await close_code(socket) == 4403


@pytest.mark.django_db(transaction=True)
async def test_strangers_cannot_read_send_into_or_sync_a_conversation():
    alice, bob, eve = [await db(make_user)(n) for n in ("alice", "bob", "eve")]
    direct = await db(make_direct)(alice, bob)
    group = await db(make_group)(alice, bob, name="private")
    await db(message_send)(sender=alice, conversation_id=direct.pk, client_msg_id="s", body="x")

    def rest_attempts():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(eve)}")
        codes = []
        for conversation in (direct, group):
            url = f"/api/conversations/{conversation.pk}/messages/"
            codes.append(client.get(url).status_code)
            codes.append(
                client.post(url, {"client_msg_id": "e1", "body": "hi"}, format="json").status_code
            )
        titles = [c["id"] for c in client.get("/api/conversations/").json()]
        return codes, titles

    codes, listed = await db(rest_attempts)()
    assert codes == [404, 404, 404, 404]
    assert listed == []

    socket, ready = await ready_socket(eve)
    assert ready["conversations"] == []
    for conversation in (direct, group):
        await socket.send_json_to(
            {"type": "send", "conversation": conversation.pk, "client_msg_id": "e2", "body": "x"}
        )
        assert (await receive(socket, "error"))["code"] == "not_found"
        await socket.send_json_to({"type": "sync", "conversation": conversation.pk, "after_seq": 0})
        assert (await receive(socket, "error"))["code"] == "not_found"
    # Nothing leaks live either: a new message in their chat does not reach the stranger.
    await db(message_send)(sender=bob, conversation_id=direct.pk, client_msg_id="t", body="y")
    await socket.send_json_to({"type": "ping"})
    assert await receive(socket) == {"type": "pong"}
    await socket.disconnect()
    assert await db(Message.objects.filter(sender=eve).count)() == 0


XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(document.cookie)",
    "{{7*7}} ${7*7} <svg/onload=alert(1)>",
]


@pytest.mark.django_db(transaction=True)
async def test_xss_payloads_are_stored_verbatim_and_served_as_json_data(client_for):
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    direct = await db(make_direct)(alice, bob)
    b, _ = await ready_socket(bob)
    a, _ = await ready_socket(alice)
    for n, payload in enumerate(XSS):
        await a.send_json_to(
            {"type": "send", "conversation": direct.pk, "client_msg_id": f"x{n}", "body": payload}
        )
        while (frame := await receive(b))["type"] != "message":
            pass
        assert frame["body"] == payload

    def history():
        return client_for(bob).get(f"/api/conversations/{direct.pk}/messages/")

    response = await db(history)()
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert [m["body"] for m in response.json()["results"]] == XSS
    stored = await db(
        lambda: list(Message.objects.order_by("seq").values_list("body", flat=True))
    )()
    assert stored == XSS
    await a.disconnect()
    await b.disconnect()


# --- simplejwt: rotation, blacklisting, logout ---------------------------------------------


def login(client: APIClient, username: str) -> dict:
    response = client.post(
        "/api/auth/token/", {"username": username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_access_tokens_are_short_lived():
    assert settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] == timedelta(minutes=10)
    make_user("alice")
    access = login(APIClient(), "alice")["access"]
    claims = jwt.decode(access, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600


@pytest.mark.django_db
def test_refresh_rotates_and_a_used_refresh_token_is_dead(anon_client):
    make_user("alice")
    first = login(anon_client, "alice")["refresh"]
    rotated = anon_client.post("/api/auth/token/refresh/", {"refresh": first}, format="json")
    assert rotated.status_code == 200
    second = rotated.json()["refresh"]
    assert second != first
    replay = anon_client.post("/api/auth/token/refresh/", {"refresh": first}, format="json")
    assert replay.status_code == 401
    again = anon_client.post("/api/auth/token/refresh/", {"refresh": second}, format="json")
    assert again.status_code == 200


@pytest.mark.django_db
def test_logout_blacklists_the_refresh_token(anon_client):
    make_user("alice")
    tokens = login(anon_client, "alice")
    response = anon_client.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 204
    refused = anon_client.post(
        "/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"
    )
    assert refused.status_code == 401
    twice = anon_client.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert twice.status_code == 400
    assert twice.json()["field"] == "refresh"


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [{}, {"refresh": ""}, {"refresh": "garbage"}, {"refresh": 5}])
def test_logout_with_a_bad_token_is_a_400_json_error(anon_client, payload):
    response = anon_client.post("/api/auth/logout/", payload, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_logout_with_an_access_token_instead_of_refresh_is_refused(anon_client):
    make_user("alice")
    tokens = login(anon_client, "alice")
    response = anon_client.post("/api/auth/logout/", {"refresh": tokens["access"]}, format="json")
    assert response.status_code == 400


# --- CSRF on session-authenticated writes ---------------------------------------------------


@pytest.mark.django_db
def test_session_authenticated_writes_need_the_csrf_token():
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    url = f"/api/conversations/{direct.pk}/messages/"
    body = json.dumps({"client_msg_id": "c1", "body": "hi"})
    refused = browser.post(url, body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert Message.objects.count() == 0
    browser.get("/admin/login/")  # a page with a form sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("search", ["a\x00b", "x" * 151])
def test_user_search_refuses_input_the_database_cannot_take(client_for, search):
    response = client_for(make_user("alice")).get("/api/users/", {"search": search})
    assert response.status_code == 400
    assert response.json()["field"] == "search"
