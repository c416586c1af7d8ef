"""The admin edits the lists through the services, so changes apply like the commands'."""

import pytest
from django.test import Client

from protection.models import BlacklistEntry, WhitelistEntry
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    staff = make_user("root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    return client, staff


def test_adding_in_the_admin_blocks_at_once_and_records_who(
    admin_client, django_capture_on_commit_callbacks
):
    client, staff = admin_client
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/protection/blacklistentry/add/",
            {
                "network": "203.0.113.0/24",
                "reason": "flood",
                "expires_at_0": "",
                "expires_at_1": "",
            },
        )
    assert response.status_code == 302, response.content[:2000]
    entry = BlacklistEntry.objects.get()
    assert (entry.network, entry.reason, entry.added_by) == ("203.0.113.0/24", "flood", staff)
    assert Client(REMOTE_ADDR="203.0.113.9").get("/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/admin/protection/blacklistentry/{entry.pk}/delete/", {"post": "yes"})
    assert not BlacklistEntry.objects.exists()
    assert Client(REMOTE_ADDR="203.0.113.9").get("/").status_code != 403


def test_the_admin_refuses_a_bad_network(admin_client):
    client, _ = admin_client
    response = client.post(
        "/admin/protection/whitelistentry/add/",
        {"network": "10.0.0.300", "reason": "", "expires_at_0": "", "expires_at_1": ""},
    )
    assert response.status_code == 200
    assert b"not an IP address or network" in response.content
    assert not WhitelistEntry.objects.exists()
