"""Logout, "log out everywhere" and password change end sessions: their tokens are refused and
their sockets close with 4401 (accounts/services.py)."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import PASSWORD, make_user
from tests.ws import close_code, open_socket, ready_socket, receive, receive_nothing

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async

NEW_PASSWORD = "an-entirely-new-passphrase-7"


def log_in(username: str, password: str = PASSWORD) -> dict:
    """A login session over REST: {"access", "refresh"}."""
    response = APIClient().post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response.json()


def bearer(access: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {access}".encode())]


def post(path: str, body: dict | None = None, access: str | None = None):
    client = APIClient()
    if access:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.post(path, body or {}, format="json")


def me_status(access: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/me/").status_code


async def socket_for(access: str):
    socket, _ = await ready_socket(None, headers=bearer(access))
    return socket


async def still_open(socket) -> bool:
    await socket.send_json_to({"type": "ping"})
    return (await receive(socket, "pong"))["type"] == "pong"


async def test_logout_closes_that_session_s_sockets_only_and_refuses_its_tokens():
    alice = await db(make_user)("alice")
    phone, laptop = await db(log_in)("alice"), await db(log_in)("alice")
    on_phone, on_laptop = await socket_for(phone["access"]), await socket_for(laptop["access"])

    response = await db(post)("/api/auth/logout/", {"refresh": phone["refresh"]})
    assert response.status_code == 204

    assert await close_code(on_phone, wait=10) == 4401
    assert await still_open(on_laptop)
    # The phone's access token, still unexpired, is refused everywhere; the laptop's is not.
    assert await db(me_status)(phone["access"]) == 401
    assert await db(me_status)(laptop["access"]) == 200
    again = await open_socket(None, headers=bearer(phone["access"]))
    assert await close_code(again) == 4401
    # Nor can the session be refreshed.
    refused = await db(post)("/api/auth/token/refresh/", {"refresh": phone["refresh"]})
    assert refused.status_code == 401
    assert alice.pk
    await on_laptop.disconnect()


async def test_a_rotated_session_is_still_the_same_session_for_logout():
    await db(make_user)("alice")
    tokens = await db(log_in)("alice")
    rotated = (await db(post)("/api/auth/token/refresh/", {"refresh": tokens["refresh"]})).json()
    on_old_access = await socket_for(tokens["access"])
    on_new_access = await socket_for(rotated["access"])
    assert (await db(post)("/api/auth/logout/", {"refresh": rotated["refresh"]})).status_code == 204
    assert await close_code(on_old_access, wait=10) == 4401
    assert await close_code(on_new_access, wait=10) == 4401
    assert await db(me_status)(tokens["access"]) == 401


async def test_password_change_closes_every_socket_and_only_the_new_tokens_work():
    await db(make_user)("alice")
    bob = await db(make_user)("bob")
    phone, laptop = await db(log_in)("alice"), await db(log_in)("alice")
    on_phone, on_laptop = await socket_for(phone["access"]), await socket_for(laptop["access"])
    on_bob, _ = await ready_socket(bob)

    wrong = await db(post)(
        "/api/auth/password/",
        {"old_password": "not-it", "new_password": NEW_PASSWORD},
        access=phone["access"],
    )
    assert wrong.status_code == 400
    assert wrong.json()["field"] == "old_password"
    weak = await db(post)(
        "/api/auth/password/",
        {"old_password": PASSWORD, "new_password": "123"},
        access=phone["access"],
    )
    assert weak.status_code == 400
    assert weak.json()["field"] == "new_password"
    assert await still_open(on_phone)

    changed = await db(post)(
        "/api/auth/password/",
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        access=phone["access"],
    )
    assert changed.status_code == 200, changed.json()
    fresh = changed.json()
    assert await close_code(on_phone, wait=10) == 4401
    assert await close_code(on_laptop, wait=10) == 4401
    assert await receive_nothing(on_bob)  # other users are not touched

    for old in (phone, laptop):
        assert await db(me_status)(old["access"]) == 401
        refresh = await db(post)("/api/auth/token/refresh/", {"refresh": old["refresh"]})
        assert refresh.status_code == 401
    # The caller continues with the answer's tokens; the new password logs in.
    assert await db(me_status)(fresh["access"]) == 200
    reconnected = await socket_for(fresh["access"])
    assert await still_open(reconnected)
    await db(log_in)("alice", NEW_PASSWORD)
    await reconnected.disconnect()
    await on_bob.disconnect()


async def test_logging_out_everywhere_closes_every_socket_of_the_user():
    await db(make_user)("alice")
    phone, laptop = await db(log_in)("alice"), await db(log_in)("alice")
    on_phone, on_laptop = await socket_for(phone["access"]), await socket_for(laptop["access"])
    response = await db(post)("/api/auth/logout/all/", access=laptop["access"])
    assert response.status_code == 204
    assert await close_code(on_phone, wait=10) == 4401
    assert await close_code(on_laptop, wait=10) == 4401
    assert await db(me_status)(phone["access"]) == 401
    assert (
        await db(post)("/api/auth/token/refresh/", {"refresh": phone["refresh"]})
    ).status_code == 401
    # Logging in again starts a session that works.
    assert await db(me_status)((await db(log_in)("alice"))["access"]) == 200


def browser_session(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def test_a_browser_logout_closes_that_browser_s_sockets_only():
    alice = await db(make_user)("alice")
    browser, other_browser = await db(browser_session)(alice), await db(browser_session)(alice)

    def cookie_headers(client: Client):
        cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
        return [(b"cookie", cookie), (b"origin", b"http://localhost:8000")]

    on_browser, _ = await ready_socket(None, headers=cookie_headers(browser))
    on_other, _ = await ready_socket(None, headers=cookie_headers(other_browser))
    response = await db(browser.post)("/logout/")
    assert response.status_code == 302
    assert await close_code(on_browser, wait=10) == 4401
    assert await still_open(on_other)
    await on_other.disconnect()
