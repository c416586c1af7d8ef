"""Who is told whose presence: people sharing a group, or a direct chat both have written in.
A stranger who opens a direct chat with you learns nothing until you reply. Run in both
configurations."""

import pytest
from channels.db import database_sync_to_async

from groups.services import group_leave, group_member_add
from messaging.services import message_send
from presence.selectors import contact_ids, presence_of
from presence.services import presence_connect
from tests.factories import make_direct, make_group, make_users
from tests.ws import TIMEOUT, ready_socket

db = database_sync_to_async


async def presence_frames_until_pong(socket):
    """Every presence frame that arrived before the answer to a fresh ping."""
    await socket.send_json_to({"type": "ping"})
    seen = []
    while True:
        frame = await socket.receive_json_from(timeout=TIMEOUT)
        if frame["type"] == "pong":
            return seen
        if frame["type"] == "presence":
            seen.append(frame)


async def presence_of_users(socket, *user_ids):
    """Waits for one presence frame about each of the users; {user: status}. Fails on a frame
    about anyone else."""
    told = {}
    while set(told) != set(user_ids):
        frame = await socket.receive_json_from(timeout=TIMEOUT)
        if frame["type"] == "presence":
            assert frame["user"] in user_ids, frame
            assert frame["last_seen"] is None or frame["last_seen"].endswith("Z")
            told[frame["user"]] = frame["status"]
    return told


def asked(client, *users):
    response = client.get("/api/presence/", {"users": ",".join(str(u.pk) for u in users)})
    assert response.status_code == 200
    results = response.json()["results"]
    return {p["user"]: (p["status"], p["last_seen"] is not None) for p in results}


@pytest.mark.django_db
def test_a_stranger_opening_a_direct_chat_sees_no_presence_until_the_other_replies(client_for):
    mallory, bob = make_users("mallory", "bob")
    presence_connect(user_id=bob.pk, connection_id="bob-tab")
    presence_connect(user_id=mallory.pk, connection_id="mallory-tab")
    direct = make_direct(mallory, bob)
    message_send(sender=mallory, conversation_id=direct.pk, client_msg_id="m1", body="hi")
    message_send(sender=mallory, conversation_id=direct.pk, client_msg_id="m2", body="hello?")
    # Neither online state nor last seen, either way.
    assert asked(client_for(mallory), bob) == {}
    assert asked(client_for(bob), mallory) == {}
    assert contact_ids(user_id=bob.pk) == contact_ids(user_id=mallory.pk) == []

    message_send(sender=bob, conversation_id=direct.pk, client_msg_id="b1", body="who is this?")
    assert asked(client_for(mallory), bob) == {bob.pk: ("online", True)}
    assert asked(client_for(bob), mallory) == {mallory.pk: ("online", True)}


@pytest.mark.django_db(transaction=True)
async def test_presence_frames_start_when_the_other_replies_not_when_a_chat_is_opened():
    mallory, bob = await db(make_users)("mallory", "bob")
    direct = await db(make_direct)(mallory, bob)
    await db(message_send)(sender=mallory, conversation_id=direct.pk, client_msg_id="m1", body="x")
    m, _ = await ready_socket(mallory)
    b, _ = await ready_socket(bob)  # bob comes online: mallory is not told
    # Bob's pong comes after his connect (and its presence announcement) is done.
    assert await presence_frames_until_pong(b) == []
    assert await presence_frames_until_pong(m) == []

    # Bob replies: from now on each is told the other's presence, at once.
    await db(message_send)(sender=bob, conversation_id=direct.pk, client_msg_id="b1", body="hi")
    assert await presence_of_users(m, bob.pk) == {bob.pk: "online"}
    assert await presence_of_users(b, mallory.pk) == {mallory.pk: "online"}
    # Later messages tell nothing new.
    await db(message_send)(sender=bob, conversation_id=direct.pk, client_msg_id="b2", body="y")
    await db(message_send)(sender=mallory, conversation_id=direct.pk, client_msg_id="m2", body="z")
    assert await presence_frames_until_pong(m) == []
    assert await presence_frames_until_pong(b) == []

    await b.disconnect(timeout=TIMEOUT)
    assert await presence_of_users(m, bob.pk) == {bob.pk: "offline"}
    await m.disconnect(timeout=TIMEOUT)


@pytest.mark.django_db(transaction=True)
async def test_sharing_a_group_starts_presence_and_leaving_the_only_one_stops_it(client_for):
    alice, bob, carol = await db(make_users)("alice", "bob", "carol")
    group = await db(make_group)(alice, carol)
    a, _ = await ready_socket(alice)
    b, _ = await ready_socket(bob)
    await presence_frames_until_pong(b)  # bob's connect is done
    assert await presence_frames_until_pong(a) == []  # bob is nobody to alice yet

    await db(group_member_add)(actor=alice, group_id=group.pk, user_id=bob.pk)
    assert await presence_of_users(a, bob.pk) == {bob.pk: "online"}
    told_bob = await presence_of_users(b, alice.pk, carol.pk)
    assert told_bob == {alice.pk: "online", carol.pk: "offline"}
    assert await db(asked)(client_for(alice), bob) == {bob.pk: ("online", True)}

    await db(group_leave)(user=bob, group_id=group.pk)
    assert await db(asked)(client_for(alice), bob) == {}
    assert await db(asked)(client_for(bob), alice, carol) == {}
    await b.disconnect(timeout=TIMEOUT)
    assert [f for f in await presence_frames_until_pong(a) if f["user"] == bob.pk] == []
    await a.disconnect(timeout=TIMEOUT)


@pytest.mark.django_db
def test_who_is_told_costs_one_query_however_many_chats(django_assert_max_num_queries, settings):
    me, *others = make_users(*(f"u{n}" for n in range(13)))
    for other in others[:6]:
        make_direct(me, other, replied=True)
    for other in others[6:9]:
        make_direct(other, me)  # opened by them, never answered
    make_group(me, *others[9:])
    make_group(others[0], me, *others[10:])
    expected = sorted(u.pk for u in others[:6] + others[9:])
    with django_assert_max_num_queries(1):
        assert contact_ids(user_id=me.pk) == expected
    with django_assert_max_num_queries(1):
        assert (
            contact_ids(user_id=me.pk, max_group_members=settings.PARLEY_PRESENCE_PUSH_MAX_MEMBERS)
            == expected
        )
    with django_assert_max_num_queries(1):
        told = presence_of(viewer_id=me.pk, user_ids=[u.pk for u in others])
    assert sorted(p["user"] for p in told) == expected
