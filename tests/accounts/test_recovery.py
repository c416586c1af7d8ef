"""Mail addresses, verification and password reset, against a real SMTP server on loopback:
the tests read the mail that arrives and follow its link."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from accounts.models import User
from tests.factories import PASSWORD, make_user
from tests.smtp import link_in
from tests.ws import close_code, ready_socket

pytestmark = pytest.mark.usefixtures("eager_celery")
NEW_PASSWORD = "a-brand-new-passphrase-77"


def names_field(body: dict, field: str) -> bool:
    return body.get("field") == field or field in body


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def reset_parts(link: str) -> tuple[str, str]:
    """uid and token of a /password/reset/<uid>/<token>/ link."""
    _, _, _, uid, token, _ = urlsplit(link).path.split("/")
    return uid, token


def login(client, username: str, password: str) -> int:
    return client.post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    ).status_code


@pytest.mark.django_db(transaction=True)
class TestEmailVerification:
    def test_an_address_given_at_registration_is_verified_by_the_mailed_link(
        self, anon_client, smtp_server, client_for
    ):
        response = anon_client.post(
            "/api/auth/register/",
            {"username": "newbie", "password": PASSWORD, "email": "Newbie@Example.COM"},
            format="json",
        )
        assert response.status_code == 201
        [mail] = smtp_server.wait_for(1)
        assert mail["To"] == "Newbie@example.com"
        user = User.objects.get(username="newbie")
        assert client_for(user).get("/api/me/email/").json() == {
            "email": "Newbie@example.com",
            "email_verified": False,
        }
        page = Client().get(path_of(link_in(mail)))
        assert page.status_code == 200
        assert b"is confirmed" in page.content
        assert client_for(user).get("/api/me/email/").json()["email_verified"] is True

    def test_the_browser_registration_takes_an_address_and_mails_it(self, smtp_server):
        browser = Client()
        page = browser.post(
            "/register/",
            {
                "username": "webby",
                "email": "webby@example.com",
                "password": PASSWORD,
                "password_again": PASSWORD,
            },
        )
        assert page.status_code == 302
        [mail] = smtp_server.wait_for(1)
        assert mail["To"] == "webby@example.com"
        assert browser.get(path_of(link_in(mail))).status_code == 200
        assert User.objects.get(username="webby").email_verified is True

    def test_an_address_is_unique_in_any_case(self, anon_client, client_for, smtp_server):
        make_user("first", email="shared@example.com")
        taken = anon_client.post(
            "/api/auth/register/",
            {"username": "second", "password": PASSWORD, "email": "SHARED@example.com"},
            format="json",
        )
        assert taken.status_code == 400
        assert names_field(taken.json(), "email")
        other = make_user("third")
        put = client_for(other).put(
            "/api/me/email/", {"email": "Shared@Example.com"}, format="json"
        )
        assert put.status_code == 400
        assert names_field(put.json(), "email")
        bad = client_for(other).put("/api/me/email/", {"email": "not-an-address"}, format="json")
        assert bad.status_code == 400
        assert names_field(bad.json(), "email")

    def test_an_expired_forged_or_outdated_link_is_refused(self, client_for, smtp_server):
        user = make_user("alice")
        client = client_for(user)
        with time_machine.travel(timezone.now(), tick=False) as traveller:
            assert (
                client.put("/api/me/email/", {"email": "a@example.com"}, format="json").json()[
                    "email_verified"
                ]
                is False
            )
            token = link_in(smtp_server.wait_for(1)[0]).split("token=")[1]
            traveller.shift(timedelta(days=4))
            expired = Client().post(
                "/api/auth/email/verify/", {"token": token}, content_type="application/json"
            )
        assert expired.status_code == 400
        assert names_field(expired.json(), "token")
        forged = Client().post(
            "/api/auth/email/verify/", {"token": token[:-2] + "xx"}, content_type="application/json"
        )
        assert forged.status_code == 400
        # A link made for the address before a change does not verify the new one.
        client = client_for(user)
        client.put("/api/me/email/", {"email": "b@example.com"}, format="json")
        first_link = link_in(smtp_server.wait_for(2)[1])
        client.put("/api/me/email/", {"email": "c@example.com"}, format="json")
        outdated = Client().get(path_of(first_link))
        assert outdated.status_code == 400
        assert client.get("/api/me/email/").json() == {
            "email": "c@example.com",
            "email_verified": False,
        }


@pytest.mark.django_db(transaction=True)
class TestPasswordReset:
    def test_the_answer_is_the_same_whether_an_account_has_the_address_or_not(
        self, anon_client, smtp_server
    ):
        make_user("alice", email="alice@example.com")
        unknown = anon_client.post(
            "/api/auth/password/reset/", {"email": "nobody@example.com"}, format="json"
        )
        known = anon_client.post(
            "/api/auth/password/reset/", {"email": "ALICE@example.com"}, format="json"
        )
        assert unknown.status_code == known.status_code == 202
        assert unknown.content == known.content
        [mail] = smtp_server.wait_for(1)
        assert mail["To"] == "alice@example.com"
        assert len(smtp_server.messages) == 1

    def test_the_mailed_link_sets_a_new_password_once(self, anon_client, smtp_server):
        make_user("alice", email="alice@example.com")
        anon_client.post("/api/auth/password/reset/", {"email": "alice@example.com"}, format="json")
        link = link_in(smtp_server.wait_for(1)[0])
        assert link.startswith("http://parley.test/password/reset/")
        uid, token = reset_parts(link)
        confirm = {"uid": uid, "token": token, "new_password": NEW_PASSWORD}
        done = anon_client.post("/api/auth/password/reset/confirm/", confirm, format="json")
        assert done.status_code == 204
        assert login(anon_client, "alice", NEW_PASSWORD) == 200
        assert login(anon_client, "alice", PASSWORD) == 401
        again = anon_client.post(
            "/api/auth/password/reset/confirm/",
            {**confirm, "new_password": "yet-another-passphrase-3"},
            format="json",
        )
        assert again.status_code == 400
        assert names_field(again.json(), "token")

    def test_an_expired_link_or_a_weak_password_is_refused(self, anon_client, smtp_server):
        make_user("alice", email="alice@example.com")
        with time_machine.travel(timezone.now(), tick=False) as traveller:
            anon_client.post(
                "/api/auth/password/reset/", {"email": "alice@example.com"}, format="json"
            )
            uid, token = reset_parts(link_in(smtp_server.wait_for(1)[0]))
            weak = anon_client.post(
                "/api/auth/password/reset/confirm/",
                {"uid": uid, "token": token, "new_password": "12345678"},
                format="json",
            )
            assert weak.status_code == 400
            assert names_field(weak.json(), "new_password")
            traveller.shift(timedelta(hours=2))
            late = anon_client.post(
                "/api/auth/password/reset/confirm/",
                {"uid": uid, "token": token, "new_password": NEW_PASSWORD},
                format="json",
            )
        assert late.status_code == 400
        assert names_field(late.json(), "token")
        garbage = anon_client.post(
            "/api/auth/password/reset/confirm/",
            {"uid": "!!", "token": "x", "new_password": NEW_PASSWORD},
            format="json",
        )
        assert garbage.status_code == 400

    def test_confirm_attempts_count_against_the_account_like_logins(self, anon_client, settings):
        settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "login_account": "3/h"}
        user = make_user("alice", email="alice@example.com")
        from django.utils.encoding import force_bytes
        from django.utils.http import urlsafe_base64_encode

        uid = urlsafe_base64_encode(force_bytes(user.pk))
        answers = [
            anon_client.post(
                "/api/auth/password/reset/confirm/",
                {"uid": uid, "token": f"guess-{n}", "new_password": NEW_PASSWORD},
                format="json",
            ).status_code
            for n in range(4)
        ]
        assert answers == [400, 400, 400, 429]
        # The same budget as the password: the login is refused now too.
        assert login(anon_client, "alice", PASSWORD) == 429

    def test_requests_for_one_address_are_limited(self, anon_client, smtp_server):
        make_user("alice", email="alice@example.com")
        answers = [
            anon_client.post(
                "/api/auth/password/reset/", {"email": "alice@example.com"}, format="json"
            ).status_code
            for _ in range(4)
        ]
        assert answers == [202, 202, 202, 429]
        assert len(smtp_server.wait_for(3)) == 3

    def test_the_browser_pages_ask_and_set(self, smtp_server):
        make_user("alice", email="alice@example.com")
        browser = Client()
        assert browser.get("/login/").content.count(b"/password/reset/") == 1
        asked = browser.post("/password/reset/", {"email": "alice@example.com"})
        assert asked.status_code == 200
        assert b"we have mailed it a link" in asked.content
        link = link_in(smtp_server.wait_for(1)[0])
        assert browser.get(path_of(link)).status_code == 200
        mismatch = browser.post(
            path_of(link), {"new_password": NEW_PASSWORD, "new_password_again": "other"}
        )
        assert b"The two passwords differ" in mismatch.content
        done = browser.post(
            path_of(link), {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
        )
        assert done.status_code == 200
        assert b"Your password is changed" in done.content
        reused = browser.post(
            path_of(link), {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
        )
        assert reused.status_code == 400
        assert b"invalid, expired or already used" in reused.content
        assert browser.login(username="alice", password=NEW_PASSWORD)


@pytest.mark.django_db(transaction=True)
async def test_a_reset_ends_every_session_and_socket(smtp_server, eager_celery):
    user = await database_sync_to_async(make_user)("alice", email="alice@example.com")
    socket, _ = await ready_socket(user)
    client = Client()
    await database_sync_to_async(client.post)(
        "/api/auth/password/reset/", {"email": "alice@example.com"}, content_type="application/json"
    )
    [mail] = await database_sync_to_async(smtp_server.wait_for)(1)
    uid, token = reset_parts(link_in(mail))
    done = await database_sync_to_async(client.post)(
        "/api/auth/password/reset/confirm/",
        {"uid": uid, "token": token, "new_password": NEW_PASSWORD},
        content_type="application/json",
    )
    assert done.status_code == 204
    assert await close_code(socket) == 4401
