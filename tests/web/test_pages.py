"""The server side of the browser UI: pages, session auth and the Content-Security-Policy."""

import re

import pytest
from django.test import Client

from accounts.models import User
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_the_chat_page_sends_strangers_to_the_login_page():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"


def test_register_logs_in_and_serves_the_chat_page():
    client = Client()
    response = client.post(
        "/register/",
        {"username": "newcomer", "password": PASSWORD, "password_again": PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert b'data-username="newcomer"' in page.content
    assert b'type="module"' in page.content
    assert User.objects.filter(username="newcomer").exists()


def test_register_refuses_what_the_api_refuses():
    make_user("taken")
    client = Client()
    response = client.post(
        "/register/", {"username": "Taken", "password": PASSWORD, "password_again": PASSWORD}
    )
    assert response.status_code == 200
    assert b"already exists" in response.content
    response = client.post(
        "/register/", {"username": "fresh", "password": "123", "password_again": "123"}
    )
    assert b"too short" in response.content
    response = client.post(
        "/register/", {"username": "fresh", "password": PASSWORD, "password_again": "other"}
    )
    assert b"differ" in response.content
    assert not User.objects.filter(username="fresh").exists()


def test_login_and_logout_with_the_session():
    make_user("alice")
    client = Client()
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/api/me/").json()["username"] == "alice"
    assert client.get("/logout/").status_code == 405  # logging out takes a POST (CSRF-checked)
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_a_wrong_password_shows_an_error():
    make_user("alice")
    response = Client().post("/login/", {"username": "alice", "password": "wrong-one"})
    assert response.status_code == 200
    assert b"enter a correct username and password" in response.content


@pytest.mark.parametrize("path", ["/login/", "/register/", "/api/me/"])
def test_pages_carry_a_strict_content_security_policy(path):
    policy = Client().get(path)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["frame-ancestors"] == "'none'"
    assert "ws://testserver" in directives["connect-src"]


def test_the_chat_page_has_no_inline_script_or_style():
    user = make_user("alice")
    client = Client()
    client.force_login(user)
    html = client.get("/").content.decode()
    scripts = re.findall(r"<script[^>]*>", html)
    # Files only: ES modules, and theme.js (a classic script that runs before the first paint).
    external = r'<script (type="module" )?src="[^"]+">'
    assert scripts and all(re.fullmatch(external, s) for s in scripts)
    assert " style=" not in html and "<style" not in html
    assert "Content-Security-Policy" in client.get("/")


def test_the_admin_is_exempt_from_the_policy():
    assert "Content-Security-Policy" not in Client().get("/admin/login/")


def test_the_push_service_worker_is_served_as_javascript(client):
    response = client.get("/static/parley/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert b'addEventListener("push"' in b"".join(response.streaming_content)
