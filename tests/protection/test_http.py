"""The IP lists and rate limits on HTTP: 403 for blacklisted addresses, 429 over a limit."""

import time
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from messaging.models import Message
from protection import rules
from protection.models import AddressListsVersion, BlacklistEntry
from protection.services import blacklist_add, blacklist_remove, whitelist_add
from tests.factories import PASSWORD, make_direct, make_user

pytestmark = pytest.mark.django_db

BAD = "203.0.113.66"


def from_ip(ip: str, **extra) -> APIClient:
    return APIClient(REMOTE_ADDR=ip, **extra)


@pytest.mark.parametrize("path", ["/", "/api/me/", "/api/schema/", "/admin/", "/static/nope"])
def test_a_blacklisted_address_gets_403_on_every_path(path, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        blacklist_add(network=BAD, reason="spam")
    response = from_ip(BAD).get(path)
    assert response.status_code == 403
    if path.startswith("/api/"):
        assert response.json()["code"] == "blacklisted"
    assert from_ip("203.0.113.67").get("/").status_code != 403


def test_posts_from_a_blacklisted_ipv6_network_get_403(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        blacklist_add(network="2001:db8:abcd::/48")
    response = from_ip("2001:db8:abcd::9").post(
        "/api/auth/token/", {"username": "x", "password": "y"}, format="json"
    )
    assert response.status_code == 403


def test_removing_an_entry_lets_the_address_back_in(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        blacklist_add(network=BAD)
    assert from_ip(BAD).get("/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        blacklist_remove(network=BAD)
    assert from_ip(BAD).get("/").status_code != 403


def test_an_expired_entry_stops_applying_by_itself(django_capture_on_commit_callbacks):
    expires_at = timezone.now() + timedelta(seconds=2)
    with django_capture_on_commit_callbacks(execute=True):
        blacklist_add(network=BAD, expires_at=expires_at)
    assert from_ip(BAD).get("/").status_code == 403
    # Nothing is changed or reloaded: the same snapshot simply stops matching.
    while from_ip(BAD).get("/").status_code == 403:
        assert timezone.now() < expires_at + timedelta(seconds=5), "the entry never expired"
        time.sleep(0.05)
    assert timezone.now() >= expires_at


def test_lookups_do_not_query_the_database(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        blacklist_add(network=BAD)
    client = from_ip("198.51.100.3")
    client.get("/")  # loads the lists once
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert client.get("/").status_code != 403
            assert from_ip(BAD).get("/").status_code == 403
    assert len(queries) == 0


def test_a_change_made_by_another_process_applies_within_the_refresh_interval(settings):
    settings.PARLEY_IP_LISTS_REFRESH = 0.2
    assert from_ip(BAD).get("/").status_code != 403
    # Another process writes the entry and bumps the shared stamp; this process's snapshot is
    # not told directly.
    BlacklistEntry.objects.create(network=BAD)
    AddressListsVersion.bump()  # the database stamp (the embedded default reads this one)
    cache.set(rules.VERSION_KEY, uuid.uuid4().hex, timeout=None)  # the cache stamp (Redis)
    deadline = time.monotonic() + 5
    while from_ip(BAD).get("/").status_code != 403:
        assert time.monotonic() < deadline, "the change never applied"
        time.sleep(0.05)


def test_rest_writes_over_the_limit_get_429_with_retry_after_and_nothing_stored(
    settings, client_for
):
    settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "rest_write": "1/m:2"}
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    client = client_for(alice)
    url = f"/api/conversations/{direct.pk}/messages/"
    for n in range(2):
        assert (
            client.post(url, {"client_msg_id": f"r{n}", "body": "x"}, format="json").status_code
            == 201
        )
    response = client.post(url, {"client_msg_id": "r9", "body": "x"}, format="json")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    assert body["code"] == "rate_limited"
    assert body["retry_after"] == int(response["Retry-After"])
    assert Message.objects.count() == 2
    assert client.get(url).status_code == 200  # reads are not limited
    assert (
        client_for(bob).post(url, {"client_msg_id": "b1", "body": "x"}, format="json").status_code
        == 201
    )


def test_login_attempts_are_limited_per_ip(settings):
    make_user("alice")
    settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "login": "3/m"}
    attempts = [
        from_ip("198.51.100.20")
        .post("/api/auth/token/", {"username": "alice", "password": "nope"}, format="json")
        .status_code
        for _ in range(4)
    ]
    assert attempts == [401, 401, 401, 429]
    good = {"username": "alice", "password": PASSWORD}
    assert from_ip("198.51.100.20").post("/api/auth/token/", good, format="json").status_code == 429
    assert from_ip("198.51.100.21").post("/api/auth/token/", good, format="json").status_code == 200


def test_default_login_limit_is_ten_a_minute():
    codes = [
        from_ip("198.51.100.30")
        .post("/api/auth/token/", {"username": "x", "password": "y"}, format="json")
        .status_code
        for _ in range(11)
    ]
    assert codes == [401] * 10 + [429]


def test_registrations_are_limited_per_ip(settings):
    settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "register": "2/m"}
    client = from_ip("198.51.100.40")
    codes = [
        client.post(
            "/api/auth/register/", {"username": f"new{n}", "password": PASSWORD}, format="json"
        ).status_code
        for n in range(3)
    ]
    assert codes == [201, 201, 429]


def test_admin_login_form_is_limited_per_ip(settings, client):
    settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "login": "2/m"}
    codes = [
        client.post("/admin/login/", {"username": "x", "password": "y"}).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]


def test_whitelisted_addresses_are_exempt(settings, django_capture_on_commit_callbacks):
    settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "login": "1/m"}
    with django_capture_on_commit_callbacks(execute=True):
        whitelist_add(network="198.51.100.0/24", reason="monitoring")
    codes = [
        from_ip("198.51.100.50")
        .post("/api/auth/token/", {"username": "x", "password": "y"}, format="json")
        .status_code
        for _ in range(5)
    ]
    assert codes == [401] * 5


def test_forwarded_for_from_a_trusted_proxy_picks_the_client(
    settings, django_capture_on_commit_callbacks
):
    settings.PARLEY_TRUSTED_PROXIES = ["10.1.0.0/16"]
    with django_capture_on_commit_callbacks(execute=True):
        blacklist_add(network=BAD)
    behind_proxy = from_ip("10.1.2.3", HTTP_X_FORWARDED_FOR=BAD)
    assert behind_proxy.get("/").status_code == 403
    # The same header from anyone else is ignored: no way to borrow an address.
    spoofed = from_ip("198.51.100.60", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert spoofed.get("/").status_code != 403
    framed = from_ip(BAD, HTTP_X_FORWARDED_FOR="198.51.100.61")
    assert framed.get("/").status_code == 403
