"""Presence entries and their transitions, against the store of the configuration under test
(Redis on PostgreSQL + Redis, process memory on the embedded default)."""

import time

import pytest
from prometheus_client import REGISTRY

from groups.services import group_member_add
from messaging.models import Conversation
from presence.selectors import contact_ids
from presence.services import (
    presence_connect,
    presence_disconnect,
    presence_heartbeat,
    presence_sweep,
)
from presence.store import presence_store
from tests.factories import make_direct, make_group, make_users

pytestmark = pytest.mark.django_db


def published(callbacks):
    """The presence events the captured on_commit callbacks would publish, as (to, status)."""
    return [(to, cb.args[1]["status"]) for cb in callbacks for to in cb.args[0]]


def online(user):
    return presence_store().states([user.pk])[user.pk].online


def test_contacts_are_people_sharing_a_direct_chat_or_group_not_the_announcements():
    alice, bob, carol, dave = make_users("alice", "bob", "carol", "dave")
    make_direct(alice, bob, replied=True)
    make_group(carol, alice)
    news = Conversation.objects.create(kind="announcement", name="News")
    for user in (alice, bob, carol, dave):
        news.memberships.create(user=user)
    assert contact_ids(user_id=alice.pk) == sorted([bob.pk, carol.pk])
    assert contact_ids(user_id=dave.pk) == []


def test_presence_is_pushed_through_small_groups_only_but_readable_in_large_ones(
    settings, client_for
):
    settings.PARLEY_PRESENCE_PUSH_MAX_MEMBERS = 3
    alice, bob, carol, dave, erin = make_users("alice", "bob", "carol", "dave", "erin")
    make_direct(alice, erin, replied=True)
    make_group(alice, bob, carol)  # 3 members: small enough
    make_group(dave, alice, bob, carol)  # 4 members: too large for live presence
    limit = settings.PARLEY_PRESENCE_PUSH_MAX_MEMBERS
    assert contact_ids(user_id=alice.pk, max_group_members=limit) == sorted(
        [bob.pk, carol.pk, erin.pk]
    )
    assert contact_ids(user_id=dave.pk, max_group_members=limit) == []
    # Dave still shares a conversation with Alice, so he may ask.
    presence_connect(user_id=alice.pk, connection_id="a1")
    answer = client_for(dave).get(f"/api/presence/?users={alice.pk}").json()
    assert [(p["user"], p["status"]) for p in answer["results"]] == [(alice.pk, "online")]


def changes(status):
    return REGISTRY.get_sample_value("parley_presence_changes_total", {"status": status}) or 0


def test_online_and_offline_once_per_change(django_capture_on_commit_callbacks):
    alice, bob = make_users("alice", "bob")
    make_direct(alice, bob, replied=True)
    before = changes("online"), changes("offline")
    with django_capture_on_commit_callbacks() as calls:
        presence_connect(user_id=alice.pk, connection_id="tab-1")
        presence_connect(user_id=alice.pk, connection_id="tab-2")
        presence_disconnect(user_id=alice.pk, connection_id="tab-1")
        assert online(alice)
        presence_disconnect(user_id=alice.pk, connection_id="tab-2")
        presence_disconnect(user_id=alice.pk, connection_id="tab-2")  # a repeat is no change
    assert published(calls) == [(bob.pk, "online"), (bob.pk, "offline")]
    assert (changes("online"), changes("offline")) == (before[0] + 1, before[1] + 1)
    assert not online(alice)
    assert presence_store().states([alice.pk])[alice.pk].last_seen is not None


def test_lapsed_entries_read_offline_and_are_swept_once(
    settings, django_capture_on_commit_callbacks
):
    settings.PARLEY_HEARTBEAT_INTERVAL = 0.1  # entries live 0.25 s
    alice, bob = make_users("alice", "bob")
    make_direct(alice, bob, replied=True)
    presence_connect(user_id=alice.pk, connection_id="on-a-dead-process")
    assert online(alice)
    time.sleep(0.4)
    assert not online(alice)  # nobody cleaned up: the entry lapsed by itself
    with django_capture_on_commit_callbacks() as calls:
        assert presence_sweep() == [alice.pk]
        assert presence_sweep() == []
    assert published(calls) == [(bob.pk, "offline")]


def test_a_live_connection_survives_the_sweep(settings):
    settings.PARLEY_HEARTBEAT_INTERVAL = 0.1
    (alice,) = make_users("alice")
    presence_connect(user_id=alice.pk, connection_id="old")
    time.sleep(0.15)
    settings.PARLEY_HEARTBEAT_INTERVAL = 10
    presence_connect(user_id=alice.pk, connection_id="fresh")
    time.sleep(0.15)  # "old" lapsed, "fresh" has not
    assert presence_sweep() == []
    assert online(alice)


def test_throttle_allows_once_per_window():
    store = presence_store()
    assert store.throttle("t:1", 0.3)
    assert not store.throttle("t:1", 0.3)
    assert store.throttle("t:2", 0.3)
    time.sleep(0.35)
    assert store.throttle("t:1", 0.3)


def test_a_heartbeat_never_resurrects_a_connection_that_left():
    alice, bob = make_users("alice", "bob")
    make_direct(alice, bob, replied=True)
    presence_connect(user_id=alice.pk, connection_id="tab")
    assert presence_heartbeat(user_id=alice.pk, connection_id="tab")
    presence_disconnect(user_id=alice.pk, connection_id="tab")
    # A refresh that was already under way when the socket closed finds nothing to refresh.
    assert not presence_heartbeat(user_id=alice.pk, connection_id="tab")
    assert not online(alice)


def test_joining_a_group_tells_presence_only_in_groups_small_enough(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.PARLEY_PRESENCE_PUSH_MAX_MEMBERS = 3
    told = []
    monkeypatch.setattr(
        "presence.services._publish", lambda to, event: told.append((event["user"], sorted(to)))
    )
    alice, bob, carol, dave = make_users("alice", "bob", "carol", "dave")
    presence_connect(user_id=bob.pk, connection_id="b")
    with django_capture_on_commit_callbacks(execute=True):
        small = make_group(alice, bob)
    assert sorted(told) == [(alice.pk, [bob.pk]), (bob.pk, [alice.pk])]
    told.clear()
    with django_capture_on_commit_callbacks(execute=True):
        group_member_add(actor=alice, group_id=small.pk, user_id=carol.pk)
    # Carol learns both; both learn carol; alice and bob are told nothing new about each other.
    assert sorted(told) == [
        (alice.pk, [carol.pk]),
        (bob.pk, [carol.pk]),
        (carol.pk, [alice.pk, bob.pk]),
    ]
    told.clear()
    with django_capture_on_commit_callbacks(execute=True):
        group_member_add(actor=alice, group_id=small.pk, user_id=dave.pk)  # now 4: too large
        make_group(alice, bob, carol, dave)
    assert told == []
