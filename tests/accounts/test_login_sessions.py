"""Listing API login sessions and ending one (the settings page's Sessions)."""

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from tests.factories import PASSWORD, make_user
from tests.ws import close_code, ready_socket


def log_in(username: str) -> dict:
    return (
        APIClient()
        .post("/api/auth/token/", {"username": username, "password": PASSWORD}, format="json")
        .json()
    )


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


@pytest.mark.django_db
def test_each_login_is_a_session_and_refreshing_keeps_it():
    make_user("alice")
    phone, laptop = log_in("alice"), log_in("alice")
    refreshed = (
        APIClient()
        .post("/api/auth/token/refresh/", {"refresh": phone["refresh"]}, format="json")
        .json()
    )
    sessions = bearer(laptop["access"]).get("/api/me/sessions/").json()
    assert len(sessions) == 2
    assert [s["current"] for s in sessions].count(True) == 1
    from_phone = bearer(refreshed["access"]).get("/api/me/sessions/").json()
    assert {s["id"] for s in from_phone} == {s["id"] for s in sessions}


@pytest.mark.django_db
def test_someone_elses_or_an_unknown_session_is_404():
    make_user("alice"), make_user("bob")
    alice = log_in("alice")
    bob = log_in("bob")
    bobs = bearer(bob["access"]).get("/api/me/sessions/").json()[0]["id"]
    assert bearer(alice["access"]).delete(f"/api/me/sessions/{bobs}/").status_code == 404
    assert bearer(alice["access"]).delete("/api/me/sessions/nope/").status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_ending_a_session_refuses_its_tokens_and_closes_its_socket():
    user = await database_sync_to_async(make_user)("alice")
    phone = await database_sync_to_async(log_in)("alice")
    laptop = await database_sync_to_async(log_in)("alice")
    socket, _ = await ready_socket(
        None, headers=[(b"authorization", f"Bearer {phone['access']}".encode())]
    )
    laptop_client = bearer(laptop["access"])
    sessions = await database_sync_to_async(laptop_client.get)("/api/me/sessions/")
    other = next(s["id"] for s in sessions.json() if not s["current"])
    ended = await database_sync_to_async(laptop_client.delete)(f"/api/me/sessions/{other}/")
    assert ended.status_code == 204
    assert await close_code(socket) == 4401
    refused = await database_sync_to_async(APIClient().post)(
        "/api/auth/token/refresh/", {"refresh": phone["refresh"]}, format="json"
    )
    assert refused.status_code == 401
    still = await database_sync_to_async(laptop_client.get)("/api/me/sessions/")
    assert [s["current"] for s in still.json()] == [True]
    assert user.pk
