"""Usernames are unique whatever their case, ASCII for new accounts, and log in in any case."""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from rest_framework.test import APIClient

from accounts.api import views as account_views
from accounts.api.serializers import RegisterSerializer
from accounts.models import User
from tests.factories import PASSWORD, make_user


def api_register(username: str, client: APIClient | None = None):
    body = {"username": username, "password": PASSWORD}
    return (client or APIClient()).post("/api/auth/register/", body, format="json")


def browser_register(username: str):
    body = {"username": username, "password": PASSWORD, "password_again": PASSWORD}
    return Client().post("/register/", body)


@pytest.mark.django_db
def test_the_database_refuses_a_name_differing_only_in_case():
    make_user("bob")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_user("BOB")
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_a_registration_losing_the_race_is_a_400_on_the_api_and_the_form(monkeypatch):
    make_user("racer")
    # What a concurrent request sees: the name was still free when it was checked.
    monkeypatch.setattr(RegisterSerializer, "validate_username", lambda self, value: value)
    response = api_register("RACER")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert response.json()["field"] == "username"
    assert response.json()["detail"] == "That username is taken."
    page = browser_register("Racer")
    assert page.status_code == 400
    assert b"That username is taken." in page.content
    assert list(User.objects.values_list("username", flat=True)) == ["racer"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("zoë", "letters, digits"),  # not ASCII
        ("bad@name", "letters, digits"),  # Django's default allowed @ and +
        ("a+b", "letters, digits"),
        ("\uff21\uff2c\uff29\uff23\uff25", "already exists"),  # fullwidth ALICE: NFKC → ALICE
    ],
)
def test_new_names_are_nfkc_normalized_and_ascii_only(name, message):
    make_user("alice")
    response = api_register(name)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    page = browser_register(name)
    assert page.status_code == 200
    assert message.encode() in page.content
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_a_fullwidth_name_is_stored_in_its_nfkc_form():
    assert api_register("\uff42\uff4f\uff42.\uff58-1_").json()["username"] == "bob.x-1_"


@pytest.mark.django_db
def test_login_ignores_case_on_every_way_in():
    make_user("alice")
    make_user("Boss", is_staff=True, is_superuser=True)
    token = APIClient().post(
        "/api/auth/token/", {"username": "ALICE", "password": PASSWORD}, format="json"
    )
    assert token.status_code == 200
    client = Client()
    page = client.post("/login/", {"username": "Alice", "password": PASSWORD})
    assert page.status_code == 302
    assert client.get("/api/me/").json()["username"] == "alice"
    admin = Client()
    assert (
        admin.post("/admin/login/", {"username": "boss", "password": PASSWORD}).status_code == 302
    )
    assert admin.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_existing_non_ascii_names_still_log_in():
    make_user("zoë")
    answer = APIClient().post(
        "/api/auth/token/", {"username": "zoë", "password": PASSWORD}, format="json"
    )
    assert answer.status_code == 200
    answer = APIClient().post(
        "/api/auth/token/", {"username": "ZOË", "password": PASSWORD}, format="json"
    )
    assert answer.status_code in (200, 401)  # case folding beyond ASCII is the database's


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_name_in_two_cases_create_one_user(monkeypatch):
    # Both requests pass the "is it free?" check before either stores its user.
    both_checked = threading.Barrier(2, timeout=10)
    register = account_views.user_register

    def register_after_both_checked(**kwargs):
        both_checked.wait()
        return register(**kwargs)

    monkeypatch.setattr(account_views, "user_register", register_after_both_checked)
    codes: dict[str, int] = {}

    def attempt(name: str) -> None:
        try:
            codes[name] = api_register(name).status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in ("racerN", "RACERN")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(codes.values()) == [201, 400]
    assert User.objects.filter(username__iexact="racern").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_renames_later_case_duplicates_before_adding_the_constraint(caplog):
    before = [("accounts", "0002_token_generation")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    OldUser = old_apps.get_model("accounts", "User")
    names = ["alice", "Alice", "ALICE", "Alice-2", "bob", "carol", "CAROL"]
    ids = {}
    for name in names:
        ids[name] = OldUser.objects.create(username=name, password="!").pk
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    renamed = dict(User.objects.values_list("pk", "username"))
    assert renamed[ids["alice"]] == "alice"  # the earliest account keeps its name
    assert renamed[ids["Alice"]] == "Alice-3"  # Alice-2 is taken (by a later account!)
    assert renamed[ids["ALICE"]] == "ALICE-4"
    assert renamed[ids["Alice-2"]] == "Alice-2"
    assert renamed[ids["bob"]] == "bob"
    assert renamed[ids["carol"]] == "carol"
    assert renamed[ids["CAROL"]] == "CAROL-2"
    assert "renamed user" in caplog.text and "'CAROL' -> 'CAROL-2'" in caplog.text
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="BOB")


@pytest.mark.django_db
def test_renames_in_the_admin_follow_the_policy_and_legacy_names_stay_editable(admin_client):
    make_user("alice")
    legacy = make_user("zoë")
    url = f"/admin/accounts/user/{legacy.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    fields = {
        "username": "zoë",
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    assert admin_client.post(url, fields).status_code == 302  # unchanged legacy name: saved
    for name, message in [("zoé", b"ASCII letters"), ("ALICE", b"already exists")]:
        page = admin_client.post(url, {**fields, "username": name})
        assert page.status_code == 200
        assert message in page.content
    assert admin_client.post(url, {**fields, "username": "zoe"}).status_code == 302
    legacy.refresh_from_db()
    assert legacy.username == "zoe"
    add = admin_client.post(
        "/admin/accounts/user/add/",
        {"username": "bad@name", "usable_password": "false"},
    )
    assert b"ASCII letters" in add.content
    assert not User.objects.filter(username="bad@name").exists()


@pytest.mark.django_db
def test_createsuperuser_says_a_case_variant_is_taken(monkeypatch):
    make_user("alice")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    with pytest.raises(CommandError, match="That username is already taken"):
        call_command("createsuperuser", "--noinput", username="ALICE", email="a@example.com")
    assert User.objects.count() == 1
