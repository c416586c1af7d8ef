"""Single sign-on against a real OpenID Provider process on loopback (tests/oidc.py): the
authorization code flow with PKCE, state and nonce, account matching and creation."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from accounts.models import User
from tests.factories import make_user
from tests.oidc import openid_provider, sign_in_at_provider

pytestmark = pytest.mark.django_db(transaction=True)
CALLBACK = "http://testserver/oidc/callback/"


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    users = [
        ("carol", "carol@example.com", True),
        ("mallory", "victim@example.com", False),  # claims someone's address, unverified
        ("newcomer", "new@example.com", True),
    ]
    with openid_provider(
        tmp_path_factory.mktemp("op"), redirect_uris=[CALLBACK], users=users
    ) as running:
        yield running


@pytest.fixture
def sso(settings, provider):
    for name, value in provider.django_settings().items():
        setattr(settings, name, value)
    return provider


def start(browser: Client) -> str:
    """Parley's redirect to the provider (PKCE and nonce in it)."""
    response = browser.get("/oidc/authenticate/")
    assert response.status_code == 302
    return response["Location"]


def callback_path(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    return f"{parts.path}?{parts.query}"


def test_the_code_flow_with_pkce_logs_into_the_account_with_the_verified_address(sso):
    carol = make_user("carol_at_parley", email="Carol@example.com", email_verified=True)
    browser = Client()
    authorize = start(browser)
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["nonce"] and query["state"]
    back = browser.get(callback_path(sign_in_at_provider(authorize, "carol")))
    assert back.status_code == 302
    assert back["Location"] == "/"
    assert browser.get("/").status_code == 200
    assert int(browser.session["_auth_user_id"]) == carol.pk


def test_an_unverified_address_never_takes_over_an_account(sso):
    victim = make_user("victim", email="victim@example.com", email_verified=True)
    browser = Client()
    browser.get(callback_path(sign_in_at_provider(start(browser), "mallory")))
    logged_in = int(browser.session["_auth_user_id"])
    assert logged_in != victim.pk
    created = User.objects.get(pk=logged_in)
    assert created.username == "mallory"
    assert created.email == ""


def test_an_unconfirmed_parley_address_does_not_receive_the_sso_login(sso):
    squatter = make_user("squatter", email="carol@example.com")  # never confirmed it
    browser = Client()
    browser.get(callback_path(sign_in_at_provider(start(browser), "carol")))
    assert int(browser.session["_auth_user_id"]) != squatter.pk


def test_unknown_users_are_refused_when_creation_is_off(sso, settings):
    settings.PARLEY_OIDC_CREATE_USERS = False
    browser = Client()
    back = browser.get(callback_path(sign_in_at_provider(start(browser), "newcomer")))
    assert back["Location"] == "/login/?sso=failed"
    assert "_auth_user_id" not in browser.session
    assert b"did not log you in" in browser.get(back["Location"]).content


def test_a_callback_with_a_wrong_state_is_refused(sso):
    browser = Client()
    real = callback_path(sign_in_at_provider(start(browser), "carol"))
    forged = real.replace("state=", "state=x")
    assert browser.get(forged).status_code == 400
    assert "_auth_user_id" not in browser.session


def test_an_id_token_with_a_wrong_nonce_is_refused(sso):
    browser = Client()
    authorize = start(browser)
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    session = browser.session
    session["oidc_states"][state]["nonce"] = "not-the-nonce-we-sent"
    session.save()
    back = browser.get(callback_path(sign_in_at_provider(authorize, "carol")))
    assert back.status_code == 400
    assert "_auth_user_id" not in browser.session


def test_sso_only_hides_and_refuses_the_password_form(sso, settings):
    settings.PARLEY_OIDC_ONLY = True
    make_user("alice")
    page = Client().get("/login/")
    assert b"Log in with single sign-on" in page.content
    assert b'name="password"' not in page.content
    refused = Client().post("/login/", {"username": "alice", "password": "x"})
    assert refused.status_code == 403


def test_without_configuration_there_is_no_sso():
    assert Client().get("/oidc/authenticate/").status_code == 404
    assert b"single sign-on" not in Client().get("/login/").content
