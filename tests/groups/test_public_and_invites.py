"""Public groups (listed, joined by anyone) and invite links (expiry, uses, revoking)."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.factories import make_group, make_user, make_users


def _create(client, name, visibility="private", members=()):
    response = client.post(
        "/api/groups/",
        {"name": name, "members": list(members), "visibility": visibility},
        format="json",
    )
    assert response.status_code == 201
    return response.json()["id"]


@pytest.mark.django_db
def test_public_groups_are_listed_and_joined_private_ones_stay_hidden(client_for):
    alice, bob, carol = make_users("alice", "bob", "carol")
    public_id = _create(client_for(alice), "Rust fans", "public", [carol.pk])
    hidden_id = _create(client_for(alice), "Secret plans")
    assert client_for(bob).get(f"/api/groups/{public_id}/").status_code == 404

    listed = client_for(bob).get("/api/groups/", {"public": 1}).json()
    assert listed == [
        {
            "id": public_id,
            "name": "Rust fans",
            "description": "",
            "member_count": 2,
            "visibility": "public",
        }
    ]
    assert client_for(bob).get("/api/groups/", {"public": 1, "search": "rust"}).json() == listed
    assert client_for(bob).get("/api/groups/", {"public": 1, "search": "plans"}).json() == []

    assert client_for(bob).post(f"/api/groups/{hidden_id}/join/").status_code == 404
    joined = client_for(bob).post(f"/api/groups/{public_id}/join/")
    assert joined.status_code == 200 and joined.json()["id"] == public_id
    detail = client_for(bob).get(f"/api/groups/{public_id}/").json()
    assert detail["your_role"] == "member" and detail["visibility"] == "public"
    history = client_for(alice).get(f"/api/conversations/{public_id}/messages/").json()
    assert history["results"][-1]["system"]["event"] == "member_added"
    assert history["results"][-1]["body"] == "bob joined"
    # Joining again changes nothing.
    assert client_for(bob).post(f"/api/groups/{public_id}/join/").status_code == 200
    assert client_for(bob).get(f"/api/groups/{public_id}/").json()["member_count"] == 3

    # Only the owner and admins change visibility; private again: no longer listed.
    refused = client_for(bob).patch(
        f"/api/groups/{public_id}/", {"visibility": "private"}, format="json"
    )
    assert refused.status_code == 403
    client_for(alice).patch(f"/api/groups/{public_id}/", {"visibility": "private"}, format="json")
    assert client_for(bob).get("/api/groups/", {"public": 1}).json() == []
    mine = client_for(bob).get("/api/groups/").json()
    assert [(g["id"], g["visibility"]) for g in mine] == [(public_id, "private")]


@pytest.mark.django_db
def test_invite_links_expire_run_out_and_can_be_revoked(client_for):
    alice, bob, carol, dave = make_users("alice", "bob", "carol", "dave")
    group = make_group(alice, bob, name="crew")
    refused = client_for(bob).post(f"/api/groups/{group.pk}/invites/", {}, format="json")
    assert refused.status_code == 403

    made = client_for(alice).post(
        f"/api/groups/{group.pk}/invites/", {"expires_in": 3600, "max_uses": 1}, format="json"
    )
    assert made.status_code == 201
    invite = made.json()
    assert invite["uses"] == 0 and invite["max_uses"] == 1 and invite["expires_at"]
    assert len(invite["code"]) >= 32 and invite["url"].endswith(f"/invite/{invite['code']}/")

    preview = client_for(carol).get(f"/api/invites/{invite['code']}/")
    assert preview.status_code == 200
    assert preview.json()["group"]["name"] == "crew" and preview.json()["member"] is False
    accepted = client_for(carol).post(f"/api/invites/{invite['code']}/accept/")
    assert accepted.status_code == 200 and accepted.json()["id"] == group.pk
    # Following it again as a member uses nothing; the next person finds it used up.
    assert client_for(carol).post(f"/api/invites/{invite['code']}/accept/").status_code == 200
    used_up = client_for(dave).post(f"/api/invites/{invite['code']}/accept/")
    assert used_up.status_code == 410 and used_up.json()["code"] == "gone"
    assert client_for(dave).get(f"/api/invites/{invite['code']}/").status_code == 410

    timed = (
        client_for(alice)
        .post(f"/api/groups/{group.pk}/invites/", {"expires_in": 60}, format="json")
        .json()
    )
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        expired = client_for(dave).post(f"/api/invites/{timed['code']}/accept/")
    assert expired.status_code == 410

    open_link = client_for(alice).post(f"/api/groups/{group.pk}/invites/", {}, format="json")
    code = open_link.json()["code"]
    assert open_link.json()["expires_at"] is None and open_link.json()["max_uses"] is None
    assert client_for(alice).delete(f"/api/groups/{group.pk}/invites/{code}/").status_code == 204
    assert client_for(dave).post(f"/api/invites/{code}/accept/").status_code == 404
    assert client_for(dave).get("/api/invites/not-a-code/").status_code == 404
    for bad in ({"expires_in": 0}, {"max_uses": -1}, {"expires_in": "soon"}):
        response = client_for(alice).post(f"/api/groups/{group.pk}/invites/", bad, format="json")
        assert response.status_code == 400, bad
    assert make_user("eve") and client_for(dave).get(f"/api/groups/{group.pk}/").status_code == 404


@pytest.mark.django_db
def test_the_invite_page_sends_a_logged_out_visitor_through_login_and_back(client):
    page = client.get("/invite/some-code/")
    assert page.status_code == 302 and page["Location"] == "/login/?next=/invite/some-code/"
    login = client.get(page["Location"])
    assert b'name="next" value="/invite/some-code/"' in login.content
    user = make_user("yan")
    client.force_login(user)
    shown = client.get("/invite/some-code/")
    assert shown.status_code == 200 and b'data-invite-code="some-code"' in shown.content


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_accepts_never_overrun_max_uses():
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from core.errors import Gone
    from groups.invites import invite_accept, invite_create
    from messaging.models import Membership

    owner = make_user("owner")
    guests = [make_user(f"guest{n}") for n in range(6)]
    group = make_group(owner, name="tiny")
    invite = invite_create(actor=owner, group_id=group.pk, max_uses=2)

    def accept(user):
        try:
            invite_accept(user=user, code=invite.code)
            return "joined"
        except Gone:
            return "gone"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(accept, guests))
    assert sorted(outcomes) == ["gone"] * 4 + ["joined"] * 2
    assert Membership.objects.filter(conversation=group).count() == 3
