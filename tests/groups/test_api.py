"""Group roles over REST: every rule allowed and refused, membership changes as stored system
messages, history starting at the join, and the audit rows they leave."""

import pytest

from audit.models import AuditLogEntry
from messaging.models import Membership
from messaging.services import message_send
from receipts.services import receipt_mark
from tests.factories import make_group, make_user, make_users

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(db):
    """owner, admin, member, outsider; a group where admin is an admin."""
    owner, admin, member, outsider = make_users("owner", "admin", "member", "outsider")
    group = make_group(owner, admin, member, name="team")
    Membership.objects.filter(conversation=group, user=admin).update(role="admin")
    return group, owner, admin, member, outsider


def url(group, *rest):
    return "/".join([f"/api/groups/{group.pk}", *map(str, rest), ""])


def role_of(group, user):
    return Membership.objects.filter(conversation=group, user=user).values_list("role", flat=True)


def history(client, group):
    return client.get(f"/api/conversations/{group.pk}/messages/?after_seq=0")


def system_events(group):
    response_rows = (
        group.messages.filter(system__isnull=False).order_by("seq").values_list("system", flat=True)
    )
    return [row["event"] for row in response_rows]


def test_creator_is_owner_and_members_see_the_group(team, client_for):
    group, owner, _admin, member, _outsider = team
    detail = client_for(member).get(url(group)).json()
    assert detail["name"] == "team" and detail["owner"]["id"] == owner.pk
    assert detail["your_role"] == "member" and detail["member_count"] == 3
    assert client_for(owner).get(url(group)).json()["your_role"] == "owner"
    members = client_for(member).get(url(group, "members")).json()
    assert {m["user"]["username"]: m["role"] for m in members} == {
        "owner": "owner",
        "admin": "admin",
        "member": "member",
    }


def test_members_carry_their_receipt_cursors(team, client_for):
    group, owner, admin, member, _outsider = team
    seqs = [
        message_send(sender=owner, conversation_id=group.pk, client_msg_id=f"c{i}", body="hi")[
            "seq"
        ]
        for i in range(3)
    ]
    receipt_mark(user_id=admin.pk, conversation_id=group.pk, seq=seqs[2], read=True)
    receipt_mark(user_id=member.pk, conversation_id=group.pk, seq=seqs[1], read=False)
    members = client_for(member).get(url(group, "members")).json()
    cursors = {m["user"]["username"]: (m["delivered_seq"], m["read_seq"]) for m in members}
    assert cursors["admin"] == (seqs[2], seqs[2])
    assert cursors["member"] == (seqs[1], 0)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", (), None),
        ("patch", (), {"name": "mine"}),
        ("get", ("members",), None),
        ("post", ("members",), {"user": 1}),
        ("post", ("leave",), None),
    ],
)
def test_strangers_get_404(team, client_for, method, path, body):
    group, *_, outsider = team
    response = getattr(client_for(outsider), method)(url(group, *path), body, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_direct_chats_are_not_groups(client_for):
    alice, bob = make_users("alice", "bob")
    from tests.factories import make_direct

    direct = make_direct(alice, bob)
    assert client_for(alice).get(f"/api/groups/{direct.pk}/").status_code == 404


@pytest.mark.parametrize(("who", "allowed"), [("owner", True), ("admin", True), ("member", False)])
def test_rename_needs_owner_or_admin(team, client_for, who, allowed):
    group, owner, admin, member, _ = team
    actor = {"owner": owner, "admin": admin, "member": member}[who]
    response = client_for(actor).patch(
        url(group), {"name": "renamed", "description": "about"}, format="json"
    )
    if allowed:
        assert response.status_code == 200
        assert response.json()["name"] == "renamed"
        assert response.json()["description"] == "about"
        assert system_events(group) == ["group_updated"]
        last = history(client_for(member), group).json()["results"][-1]
        assert last["sender"] is None and last["system"]["name"] == "renamed"
    else:
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
        group.refresh_from_db()
        assert group.name == "team"


@pytest.mark.parametrize(
    ("who", "role", "status"),
    [
        ("owner", "member", 201),
        ("owner", "admin", 201),
        ("admin", "member", 201),
        ("admin", "admin", 403),
        ("member", "member", 403),
    ],
)
def test_adding_members_by_role(team, client_for, who, role, status):
    group, owner, admin, member, outsider = team
    actor = {"owner": owner, "admin": admin, "member": member}[who]
    response = client_for(actor).post(
        url(group, "members"), {"user": outsider.pk, "role": role}, format="json"
    )
    assert response.status_code == status, response.json()
    if status == 201:
        assert response.json()["user"]["id"] == outsider.pk
        assert list(role_of(group, outsider)) == [role]
        assert system_events(group) == ["member_added"]
    else:
        assert response.json()["code"] == "forbidden"
        assert not list(role_of(group, outsider))


def test_adding_refusals(team, client_for):
    group, owner, _admin, member, outsider = team
    client = client_for(owner)
    again = client.post(url(group, "members"), {"user": member.pk}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    nobody = client.post(url(group, "members"), {"user": 999999}, format="json")
    assert nobody.status_code == 404
    banned = make_user("banned", is_active=False)
    assert client.post(url(group, "members"), {"user": banned.pk}, format="json").status_code == 404
    as_owner = client.post(
        url(group, "members"), {"user": outsider.pk, "role": "owner"}, format="json"
    )
    assert as_owner.status_code == 400 and as_owner.json()["field"] == "role"


def test_member_limit_is_a_clear_400(team, client_for, settings):
    group, owner, *_, outsider = team
    settings.PARLEY_GROUP_MEMBER_LIMIT = 3
    response = client_for(owner).post(url(group, "members"), {"user": outsider.pk}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "member_limit" and "at most 3 members" in body["detail"]
    create = client_for(owner).post(
        "/api/groups/",
        {"name": "big", "members": [outsider.pk, *[u.pk for u in make_users("x", "y")]]},
        format="json",
    )
    assert create.status_code == 400 and create.json()["code"] == "member_limit"


@pytest.mark.parametrize(
    ("who", "target", "role", "status"),
    [
        ("owner", "member", "admin", 200),
        ("owner", "admin", "member", 200),
        ("admin", "member", "admin", 403),
        ("admin", "admin", "member", 403),
        ("member", "member", "admin", 403),
    ],
)
def test_only_the_owner_promotes_and_demotes(team, client_for, who, target, role, status):
    group, owner, admin, member, _ = team
    people = {"owner": owner, "admin": admin, "member": member}
    response = client_for(people[who]).patch(
        url(group, "members", people[target].pk), {"role": role}, format="json"
    )
    assert response.status_code == status
    if status == 200:
        assert response.json()["role"] == role
        assert system_events(group) == ["role_changed"]
    else:
        assert response.json()["code"] == "forbidden"


def test_owner_hands_ownership_over(team, client_for):
    group, owner, admin, member, _ = team
    response = client_for(owner).patch(
        url(group, "members", member.pk), {"role": "owner"}, format="json"
    )
    assert response.status_code == 200 and response.json()["role"] == "owner"
    assert list(role_of(group, member)) == ["owner"] and list(role_of(group, owner)) == ["admin"]
    assert Membership.objects.filter(conversation=group, role="owner").count() == 1
    assert system_events(group) == ["owner_changed"]
    # The former owner is an admin now: no more role changes.
    again = client_for(owner).patch(
        url(group, "members", admin.pk), {"role": "member"}, format="json"
    )
    assert again.status_code == 403
    # An owner cannot demote themself without handing over.
    selfdemote = client_for(member).patch(
        url(group, "members", member.pk), {"role": "member"}, format="json"
    )
    assert selfdemote.status_code == 400


@pytest.mark.parametrize(
    ("who", "target", "status"),
    [
        ("owner", "admin", 204),
        ("owner", "member", 204),
        ("admin", "member", 204),
        ("admin", "owner", 403),
        ("member", "admin", 403),
    ],
)
def test_removing_members_by_role(team, client_for, who, target, status):
    group, owner, admin, member, _ = team
    people = {"owner": owner, "admin": admin, "member": member}
    response = client_for(people[who]).delete(url(group, "members", people[target].pk))
    assert response.status_code == status
    if status == 204:
        assert not list(role_of(group, people[target]))
        assert system_events(group) == ["member_removed"]
    else:
        assert response.json()["code"] == "forbidden"
        assert list(role_of(group, people[target]))


def test_admins_cannot_remove_admins(team, client_for):
    group, _owner, admin, member, _ = team
    Membership.objects.filter(conversation=group, user=member).update(role="admin")
    response = client_for(admin).delete(url(group, "members", member.pk))
    assert response.status_code == 403


def test_a_removed_member_loses_history_and_send(team, client_for):
    group, owner, _admin, member, _ = team
    message_send(sender=owner, conversation_id=group.pk, client_msg_id="m1", body="before")
    assert history(client_for(member), group).status_code == 200
    assert client_for(owner).delete(url(group, "members", member.pk)).status_code == 204
    assert history(client_for(member), group).status_code == 404
    sent = client_for(member).post(
        f"/api/conversations/{group.pk}/messages/",
        {"client_msg_id": "x", "body": "hi"},
        format="json",
    )
    assert sent.status_code == 404
    assert client_for(member).get(url(group)).status_code == 404
    conversations = client_for(member).get("/api/conversations/").json()
    assert group.pk not in [c["id"] for c in conversations]


def test_leaving(team, client_for):
    group, _owner, admin, member, _ = team
    assert client_for(member).post(url(group, "leave")).status_code == 204
    assert not list(role_of(group, member))
    assert system_events(group) == ["member_left"]
    assert client_for(member).post(url(group, "leave")).status_code == 404
    # Deleting your own membership is leaving too.
    assert client_for(admin).delete(url(group, "members", admin.pk)).status_code == 204
    assert system_events(group) == ["member_left", "member_left"]


def test_owner_leaving_hands_ownership_to_the_oldest_admin(client_for):
    owner, m1, a1, a2 = make_users("owner", "m1", "a1", "a2")
    group = make_group(owner, m1)
    for admin in (a1, a2):
        client_for(owner).post(
            url(group, "members"), {"user": admin.pk, "role": "admin"}, format="json"
        )
    assert client_for(owner).post(url(group, "leave")).status_code == 204
    assert list(role_of(group, a1)) == ["owner"] and list(role_of(group, a2)) == ["admin"]
    assert system_events(group)[-2:] == ["member_left", "owner_changed"]


def test_owner_leaving_without_admins_hands_ownership_to_the_oldest_member(client_for):
    owner, m1, m2 = make_users("owner", "m1", "m2")
    group = make_group(owner, m1)
    client_for(owner).post(url(group, "members"), {"user": m2.pk}, format="json")
    client_for(owner).post(url(group, "leave"))
    assert list(role_of(group, m1)) == ["owner"] and list(role_of(group, m2)) == ["member"]


def test_new_member_sees_history_from_the_join(team, client_for):
    group, owner, _admin, _member, outsider = team
    for n in range(3):
        message_send(sender=owner, conversation_id=group.pk, client_msg_id=f"o{n}", body="old")
    client_for(owner).post(url(group, "members"), {"user": outsider.pk}, format="json")
    message_send(sender=owner, conversation_id=group.pk, client_msg_id="n", body="new")
    page = history(client_for(outsider), group).json()
    assert [(m["seq"], m["body"]) for m in page["results"]] == [
        (4, "owner added outsider"),
        (5, "new"),
    ]
    assert page["results"][0]["system"]["event"] == "member_added"
    older = client_for(outsider).get(f"/api/conversations/{group.pk}/messages/?before_seq=4")
    assert older.json()["results"] == []
    summary = next(
        c for c in client_for(outsider).get("/api/conversations/").json() if c["id"] == group.pk
    )
    assert summary["joined_seq"] == 3 and summary["unread"] == 2


def test_system_messages_have_seqs_in_order(team, client_for):
    group, owner, admin, member, outsider = team
    client_for(owner).post(url(group, "members"), {"user": outsider.pk}, format="json")
    client_for(admin).patch(url(group), {"name": "crew"}, format="json")
    client_for(owner).delete(url(group, "members", outsider.pk))
    client_for(member).post(url(group, "leave"))
    rows = history(client_for(owner), group).json()["results"]
    assert [m["seq"] for m in rows] == [1, 2, 3, 4]
    assert [m["system"]["event"] for m in rows] == [
        "member_added",
        "group_updated",
        "member_removed",
        "member_left",
    ]
    assert all(m["sender"] is None and m["client_msg_id"] is None for m in rows)
    assert rows[2]["body"] == "owner removed outsider"


def test_rest_moderation_actions_are_audited(team, client_for):
    group, owner, admin, member, outsider = team
    client_for(owner).post(url(group, "members"), {"user": outsider.pk}, format="json")
    client_for(owner).patch(url(group, "members", member.pk), {"role": "admin"}, format="json")
    client_for(admin).delete(url(group, "members", outsider.pk), {"reason": "spam"}, format="json")
    client_for(owner).patch(url(group), {"name": "crew"}, format="json")
    rows = list(AuditLogEntry.objects.order_by("id"))
    assert [(r.actor_id, r.action, r.via) for r in rows] == [
        (owner.pk, "member_add", "api"),
        (owner.pk, "member_role", "api"),
        (admin.pk, "member_remove", "api"),
        (owner.pk, "group_update", "api"),
    ]
    removal = rows[2]
    assert removal.reason == "spam" and removal.target_id == str(group.pk)
    assert "outsider" in removal.target and removal.actor_name == "admin"
    assert removal.created_at is not None
    # Leaving is not a moderation action.
    client_for(member).post(url(group, "leave"))
    assert AuditLogEntry.objects.count() == 4
