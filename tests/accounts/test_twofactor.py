"""Two-factor login (TOTP with django-otp): enrolment, the API's code step, the browser's code
step, recovery codes, limits, and the admin's requirement for staff."""

import time
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def current_code(user, *, confirmed: bool | None = None) -> str:
    devices = TOTPDevice.objects.filter(user=user)
    if confirmed is not None:
        devices = devices.filter(confirmed=confirmed)
    device = devices.latest("pk")
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def enrol(client, user) -> list[str]:
    setup = client.post("/api/auth/2fa/setup/")
    assert setup.status_code == 200
    confirm = client.post(
        "/api/auth/2fa/confirm/", {"code": current_code(user, confirmed=False)}, format="json"
    )
    assert confirm.status_code == 200, confirm.content
    return confirm.json()["recovery_codes"]


def password_step(client, username: str) -> dict:
    response = client.post(
        "/api/auth/token/", {"username": username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    return response.json()


def test_enrolment_shows_a_secret_and_a_qr_code_and_needs_a_code(client_for):
    user = make_user("alice")
    client = client_for(user)
    setup = client.post("/api/auth/2fa/setup/").json()
    assert setup["otpauth_url"].startswith("otpauth://totp/Parley%3Aalice?secret=")
    assert setup["secret"] in setup["otpauth_url"]
    assert setup["qr_svg"].startswith("data:image/svg+xml;base64,")
    bad = client.post(
        "/api/auth/2fa/confirm/",
        {"code": wrong(current_code(user, confirmed=False))},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["field"] == "code"
    assert client.get("/api/auth/2fa/").json() == {"enabled": False, "recovery_codes_left": 0}
    codes = client.post(
        "/api/auth/2fa/confirm/", {"code": current_code(user, confirmed=False)}, format="json"
    ).json()["recovery_codes"]
    assert len(set(codes)) == 10
    assert client.get("/api/auth/2fa/").json() == {"enabled": True, "recovery_codes_left": 10}
    assert client.post("/api/auth/2fa/setup/").status_code == 409


def test_the_api_login_asks_for_a_code_and_refuses_wrong_and_replayed_ones(client_for, anon_client):
    user = make_user("alice")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        enrol(client_for(user), user)
        clock.shift(timedelta(seconds=31))  # the enrolment's code is spent
        step = password_step(anon_client, "alice")
        assert step["otp_required"] is True
        assert "access" not in step
        code = current_code(user)
        wrong_answer = anon_client.post(
            "/api/auth/token/otp/",
            {"ephemeral": step["ephemeral"], "code": wrong(code)},
            format="json",
        )
        assert wrong_answer.status_code == 400
        assert wrong_answer.json()["field"] == "code"
        tokens = anon_client.post(
            "/api/auth/token/otp/", {"ephemeral": step["ephemeral"], "code": code}, format="json"
        )
        assert tokens.status_code == 200
        assert set(tokens.json()) == {"access", "refresh"}
        me = Client(headers={"authorization": f"Bearer {tokens.json()['access']}"}).get("/api/me/")
        assert me.json()["username"] == "alice"
        replayed = anon_client.post(
            "/api/auth/token/otp/", {"ephemeral": step["ephemeral"], "code": code}, format="json"
        )
        assert replayed.status_code == 400
        clock.shift(timedelta(minutes=6))
        late = anon_client.post(
            "/api/auth/token/otp/",
            {"ephemeral": step["ephemeral"], "code": current_code(user)},
            format="json",
        )
    assert late.status_code == 400
    assert late.json()["field"] == "ephemeral"


def test_a_recovery_code_works_once(client_for, anon_client):
    user = make_user("alice")
    codes = enrol(client_for(user), user)
    ephemeral = password_step(anon_client, "alice")["ephemeral"]
    first = anon_client.post(
        "/api/auth/token/otp/", {"ephemeral": ephemeral, "code": codes[0]}, format="json"
    )
    assert first.status_code == 200
    again = anon_client.post(
        "/api/auth/token/otp/", {"ephemeral": ephemeral, "code": codes[0]}, format="json"
    )
    assert again.status_code == 400
    assert client_for(user).get("/api/auth/2fa/").json()["recovery_codes_left"] == 9


def test_codes_count_against_the_account_like_passwords(client_for, anon_client, settings):
    user = make_user("alice")
    enrol(client_for(user), user)
    settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "login_account": "3/h"}
    ephemeral = password_step(anon_client, "alice")["ephemeral"]  # a success: budget full
    answers = [
        anon_client.post(
            "/api/auth/token/otp/", {"ephemeral": ephemeral, "code": "000000"}, format="json"
        ).status_code
        for _ in range(4)
    ]
    assert answers == [400, 400, 400, 429]
    # The password is refused now too: one budget per account.
    again = anon_client.post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert again.status_code == 429


def test_disabling_needs_a_code(client_for, anon_client):
    user = make_user("alice")
    client = client_for(user)
    codes = enrol(client, user)
    bad = client.post("/api/auth/2fa/disable/", {"code": "12345678"}, format="json")
    assert bad.status_code == 400
    assert client.post("/api/auth/2fa/disable/", {"code": codes[3]}, format="json").status_code == (
        204
    )
    assert set(password_step(anon_client, "alice")) == {"access", "refresh"}


def test_the_browser_login_asks_for_the_code(client_for):
    user = make_user("alice")
    enrol(client_for(user), user)
    browser = Client()
    with time_machine.travel(timezone.now() + timedelta(seconds=31), tick=False):
        first = browser.post("/login/", {"username": "alice", "password": PASSWORD})
        assert first.status_code == 302
        assert first["Location"] == "/login/otp/"
        assert browser.get("/").status_code == 302  # not logged in yet
        wrong_page = browser.post("/login/otp/", {"code": wrong(current_code(user))})
        assert wrong_page.status_code == 400
        assert b"wrong, expired or already used" in wrong_page.content
        done = browser.post("/login/otp/", {"code": current_code(user)})
    assert done.status_code == 302
    assert browser.get("/").status_code == 200


def test_staff_need_the_code_step_for_the_admin(client_for, settings):
    settings.PARLEY_STAFF_2FA = True
    staff = make_user("boss", is_staff=True, is_superuser=True)
    without = Client()
    without.force_login(staff)
    refused = without.get("/admin/", follow=True)
    assert refused.status_code == 403
    assert b"needs two-factor login" in refused.content
    enrol(client_for(staff), staff)
    browser = Client()
    with time_machine.travel(timezone.now() + timedelta(seconds=31), tick=False):
        step = browser.post("/login/?next=/admin/", {"username": "boss", "password": PASSWORD})
        assert step["Location"] == "/login/otp/"
        done = browser.post("/login/otp/", {"code": current_code(staff)})
    assert done["Location"] == "/admin/"
    assert browser.get("/admin/").status_code == 200
