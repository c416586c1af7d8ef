"""GET /api/presence/?users=…"""

import pytest

from messaging.models import Conversation
from presence.services import presence_connect
from tests.factories import make_direct, make_group, make_users

pytestmark = pytest.mark.django_db


def test_presence_of_contacts_only(client_for):
    alice, bob, carol, eve = make_users("alice", "bob", "carol", "eve")
    make_direct(alice, bob, replied=True)
    make_group(carol, alice, name="g")
    news = Conversation.objects.create(kind="announcement", name="News")
    news.memberships.create(user=alice)
    news.memberships.create(user=eve)
    presence_connect(user_id=bob.pk, connection_id="b")
    presence_connect(user_id=eve.pk, connection_id="e")

    ids = [bob.pk, carol.pk, eve.pk, 999999, alice.pk]
    response = client_for(alice).get("/api/presence/", {"users": ",".join(map(str, ids))})
    assert response.status_code == 200
    results = response.json()["results"]
    # Eve shares only the announcements, 999999 does not exist: neither is told.
    assert [(p["user"], p["status"]) for p in results] == [
        (bob.pk, "online"),
        (carol.pk, "offline"),
        (alice.pk, "offline"),
    ]
    assert results[0]["type"] == "presence" and results[0]["last_seen"].endswith("Z")
    assert results[1]["last_seen"] is None


@pytest.mark.parametrize(
    "query",
    ["", "?users=", "?users=a,b", "?users=0", "?users=-3", "?users=" + ",".join(["1"] * 201)],
)
def test_bad_user_lists_are_400(client_for, query):
    (alice,) = make_users("alice")
    response = client_for(alice).get(f"/api/presence/{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert response.json()["field"] == "users"


def test_presence_needs_authentication(anon_client):
    assert anon_client.get("/api/presence/?users=1").status_code == 401


@pytest.mark.postgres
def test_redis_down_is_503_unavailable_not_a_server_error(client_for, settings):
    from chatsite.redis import redis_clients

    alice, bob = make_users("alice", "bob")
    make_direct(alice, bob, replied=True)
    client = client_for(alice)
    assert client.get("/api/presence/", {"users": bob.pk}).status_code == 200
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    redis_clients().reset()
    try:
        response = client.get("/api/presence/", {"users": bob.pk})
    finally:
        redis_clients().reset()
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
