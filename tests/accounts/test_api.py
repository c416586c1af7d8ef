import pytest

from accounts.models import User
from tests.factories import PASSWORD, make_user, person

pytestmark = pytest.mark.django_db


def test_register_creates_a_user_who_can_log_in(anon_client):
    response = anon_client.post(
        "/api/auth/register/", {"username": "newbie", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201
    assert response.json() == {**person(User.objects.get(username="newbie")), "is_bot": False}
    tokens = anon_client.post(
        "/api/auth/token/", {"username": "newbie", "password": PASSWORD}, format="json"
    )
    assert tokens.status_code == 200
    assert set(tokens.json()) == {"access", "refresh"}


def test_register_taken_username_is_a_field_error(anon_client):
    make_user("taken")
    response = anon_client.post(
        "/api/auth/register/", {"username": "TAKEN", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()


@pytest.mark.parametrize("password", ["short", "password123", "12345678901", "newbie-x"])
def test_register_weak_password_is_a_field_error(anon_client, password):
    response = anon_client.post(
        "/api/auth/register/", {"username": "newbie", "password": password}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["password"]
    assert not User.objects.filter(username="newbie").exists()


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"username": "x"},
        {"password": PASSWORD},
        {"username": "bad name!", "password": PASSWORD},
    ],
)
def test_register_missing_or_invalid_fields_are_400(anon_client, payload):
    response = anon_client.post("/api/auth/register/", payload, format="json")
    assert response.status_code == 400
    assert isinstance(response.json(), dict)


def test_register_rejects_malformed_json(anon_client):
    response = anon_client.post("/api/auth/register/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_wrong_credentials_are_401(anon_client):
    make_user("alice")
    response = anon_client.post(
        "/api/auth/token/", {"username": "alice", "password": "nope"}, format="json"
    )
    assert response.status_code == 401
    assert "detail" in response.json()


def test_refresh_gives_a_working_access_token(anon_client):
    make_user("alice")
    tokens = anon_client.post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    ).json()
    refreshed = anon_client.post(
        "/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"
    )
    assert refreshed.status_code == 200
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert anon_client.get("/api/me/").json()["username"] == "alice"


def test_me_and_user_search(client_for):
    alice = make_user("alice")
    make_user("alina")
    make_user("bob")
    client = client_for(alice)
    assert client.get("/api/me/").json() == {**person(alice), "is_bot": False}
    found = client.get("/api/users/?search=ali").json()
    assert [u["username"] for u in found] == ["alina"]  # never yourself
    assert client.get("/api/users/?search=zzz").json() == []


def test_search_hides_inactive_users(client_for):
    alice = make_user("alice")
    make_user("bobby", is_active=False)
    assert client_for(alice).get("/api/users/?search=bob").json() == []


@pytest.mark.parametrize("path", ["/api/me/", "/api/users/", "/api/conversations/"])
def test_anonymous_requests_get_401_json(anon_client, path):
    response = anon_client.get(path)
    assert response.status_code == 401
    assert "detail" in response.json()


def test_forged_token_is_401(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoxfQ.")
    assert anon_client.get("/api/me/").status_code == 401
