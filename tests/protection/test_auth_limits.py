"""Every way in (API, browser forms, admin login) shares one per-address and per-account limit."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from protection.services import whitelist_add
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def api(ip: str) -> APIClient:
    return APIClient(REMOTE_ADDR=ip)


def browser(ip: str) -> Client:
    return Client(REMOTE_ADDR=ip)


def api_login(ip: str, username: str, password: str) -> int:
    body = {"username": username, "password": password}
    return api(ip).post("/api/auth/token/", body, format="json").status_code


@pytest.fixture
def limits(settings):
    def set_limits(**rates: str) -> None:
        settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, **rates}

    return set_limits


def test_the_browser_login_form_is_limited_per_address(limits):
    make_user("alice")
    limits(login="3/m")
    client = browser("198.51.100.70")
    codes = [
        client.post("/login/", {"username": "alice", "password": "nope"}).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 200]
    refused = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert b"Too many attempts, try again in 1 minute" in refused.content
    assert b'name="username"' in refused.content  # the form is shown again
    assert client.get("/").status_code == 302  # not logged in
    # The API counts against the same address.
    assert api_login("198.51.100.70", "alice", PASSWORD) == 429
    assert api_login("198.51.100.71", "alice", PASSWORD) == 200


def test_the_browser_register_form_is_limited_per_address(limits):
    limits(register="2/m")
    client = browser("198.51.100.72")

    def register(name: str):
        return client.post(
            "/register/", {"username": name, "password": PASSWORD, "password_again": PASSWORD}
        )

    assert register("first").status_code == 302
    client.post("/logout/")
    assert register("second").status_code == 302
    client.post("/logout/")
    refused = register("third")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert b"Too many attempts, try again in" in refused.content
    assert not User.objects.filter(username="third").exists()
    # The API shares the address's registration budget.
    body = {"username": "fourth", "password": PASSWORD}
    answer = api("198.51.100.72").post("/api/auth/register/", body, format="json")
    assert answer.status_code == 429


def test_guesses_at_one_account_from_many_addresses_lock_that_account(limits):
    make_user("alice")
    make_user("bob")
    limits(login_account="4/h")
    codes = [api_login(f"198.51.100.{80 + n % 4}", "alice", "nope") for n in range(6)]
    assert codes == [401, 401, 401, 401, 429, 429]
    # Every way in refuses the locked account, even with the right password, from a new address.
    assert api_login("198.51.100.90", "alice", PASSWORD) == 429
    page = browser("198.51.100.91").post("/login/", {"username": "alice", "password": PASSWORD})
    assert page.status_code == 429
    assert b"Too many attempts, try again in" in page.content
    admin = browser("198.51.100.92").post(
        "/admin/login/", {"username": "alice", "password": PASSWORD}
    )
    assert admin.status_code == 429
    assert b"Too many attempts, try again in 15 minutes" in admin.content
    assert b'name="username"' in admin.content  # the admin's own form, shown again
    # The lockout ends by itself: one attempt comes back after 15 minutes (4 per hour).
    assert 60 < int(admin["Retry-After"]) <= 900
    answer = api("198.51.100.93").post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert answer.json()["code"] == "rate_limited"
    assert answer.json()["detail"].startswith("Too many attempts, try again in 15 minutes")
    assert int(answer["Retry-After"]) == answer.json()["retry_after"]
    # Other accounts are not affected.
    assert api_login("198.51.100.90", "bob", PASSWORD) == 200


def test_the_account_limit_ignores_the_case_of_the_name(limits):
    make_user("alice")
    limits(login_account="2/h")
    assert api_login("198.51.100.94", "alice", "nope") == 401
    assert api_login("198.51.100.95", "ALICE", "nope") == 401
    assert api_login("198.51.100.96", "Alice", "nope") == 429


def test_a_successful_login_resets_the_account_failures(limits):
    make_user("alice")
    limits(login_account="3/h")
    for _ in range(2):
        assert api_login("198.51.100.97", "alice", "nope") == 401
    assert api_login("198.51.100.97", "alice", PASSWORD) == 200
    codes = [api_login("198.51.100.98", "alice", "nope") for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_whitelisted_addresses_skip_the_address_limit_but_not_the_account_limit(
    limits, django_capture_on_commit_callbacks
):
    make_user("alice")
    limits(login="1/m", login_account="3/h")
    with django_capture_on_commit_callbacks(execute=True):
        whitelist_add(network="198.51.100.0/28", reason="monitoring")
    assert [api_login("198.51.100.1", f"nobody{n}", "x") for n in range(4)] == [401] * 4
    assert [api_login("198.51.100.2", "alice", "x") for n in range(4)] == [401, 401, 401, 429]
