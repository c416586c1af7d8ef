import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from core.errors import BadRequest, Conflict, Forbidden, NotFound
from messaging import dedup
from messaging.ids import message_id_floor, message_id_time, next_message_id
from messaging.models import Conversation, Message
from messaging.services import SendRequest, message_send, message_send_many
from realtime import hub as fanout
from tests.factories import make_direct, make_group, make_user


def test_message_ids_are_unique_increasing_and_carry_their_time():
    before = datetime.now(UTC)
    ids = [next_message_id() for _ in range(10_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(i < 2**63 for i in ids)
    moment = message_id_time(ids[0])
    assert abs((moment - before).total_seconds()) < 2
    # The id of a later moment is above every id made now, and an earlier one below.
    assert message_id_floor(before + timedelta(days=1)) > ids[-1]
    assert message_id_floor(before - timedelta(days=1)) < ids[0]


@pytest.mark.django_db
def test_seq_counts_up_per_conversation():
    alice, bob, carol = make_user(), make_user(), make_user()
    one, two = make_direct(alice, bob), make_direct(alice, carol)
    seqs = [
        message_send(sender=alice, conversation_id=c.pk, client_msg_id=f"m{n}", body="x")["seq"]
        for n, c in enumerate([one, one, two, one, two])
    ]
    assert seqs == [1, 2, 1, 3, 2]
    assert Conversation.objects.get(pk=one.pk).last_seq == 3


@pytest.mark.django_db
def test_failed_validation_takes_no_seq():
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    with pytest.raises(BadRequest):
        message_send(sender=alice, conversation_id=direct.pk, client_msg_id="bad id", body="x")
    with pytest.raises(NotFound):
        message_send(sender=make_user(), conversation_id=direct.pk, client_msg_id="ok", body="x")
    assert (
        message_send(sender=alice, conversation_id=direct.pk, client_msg_id="ok", body="x")["seq"]
        == 1
    )


@pytest.mark.django_db
def test_a_batch_gives_each_send_its_own_result():
    from announcements.services import announcement_conversation_ensure

    alice, bob, carol = make_user(), make_user(), make_user()
    direct, group = make_direct(alice, bob), make_group(carol, alice, bob)
    group_seq = Conversation.objects.get(pk=group.pk).last_seq  # the group's own system message
    announcements = announcement_conversation_ensure()
    message_send(sender=alice, conversation_id=direct.pk, client_msg_id="used", body="earlier")
    requests = [
        SendRequest(alice, direct.pk, "a1", "first"),
        SendRequest(bob, group.pk, "b1", "   "),  # empty body
        SendRequest(carol, direct.pk, "c1", "not a member"),
        SendRequest(bob, group.pk, "b2", "to the group"),
        SendRequest(alice, direct.pk, "a1", "first, again"),  # a repeat within the batch
        SendRequest(alice, group.pk, "used", "id already used in the direct chat"),
        SendRequest(bob, direct.pk, "b3", "second"),
        SendRequest(bob, announcements, "b4", "not staff"),
    ]
    results = message_send_many(requests)
    first, empty, stranger, to_group, repeat, reused, second, announcement = results
    assert (first["seq"], second["seq"], to_group["seq"]) == (2, 3, group_seq + 1)
    assert not first["duplicate"] and not second["duplicate"] and not to_group["duplicate"]
    assert repeat["duplicate"] and repeat["id"] == first["id"] and repeat["seq"] == 2
    assert isinstance(empty, BadRequest) and empty.field == "body"
    assert isinstance(stranger, NotFound)
    assert isinstance(reused, Conflict)
    assert isinstance(announcement, Forbidden)
    stored = list(
        Message.objects.filter(conversation=direct).order_by("seq").values_list("seq", "body")
    )
    assert stored == [(1, "earlier"), (2, "first"), (3, "second")]
    assert Conversation.objects.get(pk=group.pk).last_seq == group_seq + 1


@pytest.mark.django_db
def test_a_batch_holding_a_send_stored_long_ago_stores_the_others_without_a_gap():
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    original = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
    # The dedup cache has forgotten it: only the database's unique key can tell.
    dedup.ack_forget(sender_id=alice.pk, client_msg_id="m1")
    retry, second, third = message_send_many(
        [
            SendRequest(alice, direct.pk, "m1", "x"),
            SendRequest(alice, direct.pk, "m2", "y"),
            SendRequest(bob, direct.pk, "m3", "z"),
        ]
    )
    assert retry["duplicate"] and retry["id"] == original["id"]
    assert (second["seq"], third["seq"]) == (2, 3)
    assert list(
        Message.objects.filter(conversation=direct).order_by("seq").values_list("seq", flat=True)
    ) == [1, 2, 3]


@pytest.fixture
def published(monkeypatch):
    """Records every conversation event published (and still publishes it)."""
    from realtime import hub as fanout

    seen = []
    real = fanout.publish_many

    def record(events):
        seen.extend(events)
        real(events)

    monkeypatch.setattr(fanout, "publish_many", record)
    return seen


@pytest.mark.django_db
def test_message_is_published_only_after_commit(django_capture_on_commit_callbacks, published):
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message_send(
            sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="after commit"
        )
    assert published == []  # nothing was published inside the transaction
    # Publishing (and the other after-send steps: dedup and history caches, push) waited
    # for commit: all of it is in the captured callbacks.
    assert callbacks
    for callback in callbacks:
        callback()
    [(conversation_id, handler, event)] = published
    assert (conversation_id, handler) == (direct.pk, "message")
    assert event["body"] == "after commit" and event["seq"] == 1


@pytest.mark.django_db
def test_duplicate_send_publishes_nothing(django_capture_on_commit_callbacks):
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
    with django_capture_on_commit_callbacks() as callbacks:
        ack = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
    assert ack["duplicate"] is True
    assert callbacks == []


@pytest.mark.django_db
def test_group_creation_tells_every_member(django_capture_on_commit_callbacks, monkeypatch):
    owner, member = make_user(), make_user()
    published = []
    monkeypatch.setattr(fanout, "publish_to_topics", published.extend)
    with django_capture_on_commit_callbacks(execute=True):
        group = make_group(owner, member, name="Crew")
    joined = [
        event
        for topic, name, event in published
        if topic == f"user.{member.pk}" and name == "conversation"
    ]
    assert len(joined) == 1
    event = joined[0]
    assert event["conversation"]["id"] == group.pk
    assert event["conversation"]["title"] == "Crew"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_seq_is_gap_free_under_20_concurrent_senders():
    owner = make_user("owner")
    senders = [make_user(f"sender{n}") for n in range(20)]
    group = make_group(owner, *senders)
    start = threading.Barrier(20)

    def send(n: int) -> int:
        try:
            start.wait()
            return message_send(
                sender=senders[n], conversation_id=group.pk, client_msg_id=f"c{n}", body=f"from {n}"
            )["seq"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        seqs = list(pool.map(send, range(20)))
    assert sorted(seqs) == list(range(1, 21))
    stored = list(
        Message.objects.filter(conversation=group).order_by("seq").values_list("seq", flat=True)
    )
    assert stored == list(range(1, 21))
    assert Conversation.objects.get(pk=group.pk).last_seq == 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_client_msg_id_sent_concurrently_is_stored_once():
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    start = threading.Barrier(10)

    def send(_: int) -> dict:
        try:
            start.wait()
            return message_send(
                sender=alice, conversation_id=direct.pk, client_msg_id="retry", body="once"
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        acks = list(pool.map(send, range(10)))
    assert sum(not a["duplicate"] for a in acks) == 1
    assert {a["id"] for a in acks} == {acks[0]["id"]}
    assert Message.objects.filter(conversation=direct).count() == 1
    assert Conversation.objects.get(pk=direct.pk).last_seq == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_batches_over_the_same_conversations_in_opposite_orders_neither_deadlock_nor_skip_seqs():
    users = [make_user(f"u{n}") for n in range(4)]
    groups = [make_group(users[0], *users[1:], name=f"g{n}") for n in range(6)]
    first = {g.pk: Conversation.objects.get(pk=g.pk).last_seq for g in groups}
    start = threading.Barrier(8)

    def send_batches(worker: int) -> list:
        # Half the workers list the conversations forwards, half backwards: locks taken in the
        # order of the requests would deadlock; they are taken in id order.
        order = groups if worker % 2 else list(reversed(groups))
        results = []
        try:
            start.wait()
            for round_ in range(5):
                results += message_send_many(
                    [
                        SendRequest(users[worker % 4], g.pk, f"w{worker}-r{round_}-{g.pk}", "x")
                        for g in order
                    ]
                )
        finally:
            connection.close()
        return results

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [r for batch in pool.map(send_batches, range(8)) for r in batch]
    assert all(isinstance(r, dict) and not r["duplicate"] for r in results)
    for group in groups:
        seqs = sorted(r["seq"] for r in results if r["conversation"] == group.pk)
        assert seqs == list(range(first[group.pk] + 1, first[group.pk] + 41))


# Published only to close sockets, never written to one: they name an action, not a frame.
CONTROL_EVENTS = {"gateway.close", "gateway.close_addresses"}


@pytest.mark.django_db
def test_every_event_is_published_under_its_frame_type(
    django_capture_on_commit_callbacks, monkeypatch
):
    """One name per event, end to end: what a service publishes is what the hub routes on and
    the `type` of the frame the client gets."""
    from conversations.services import pin_set, reaction_set
    from groups.services import group_member_remove
    from messaging.services import message_delete, message_edit
    from presence.services import typing_relay
    from receipts.services import receipt_mark

    published: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        fanout, "publish_many", lambda events: published.extend((n, e) for _, n, e in events)
    )
    monkeypatch.setattr(
        fanout, "publish_to_topics", lambda events: published.extend((n, e) for _, n, e in events)
    )
    owner, member, other = make_user(), make_user(), make_user()
    with django_capture_on_commit_callbacks(execute=True):
        group = make_group(owner, member, other, name="Crew")
    with django_capture_on_commit_callbacks(execute=True):
        ack = message_send(sender=owner, conversation_id=group.pk, client_msg_id="m", body="hi")
    message_id = int(ack["id"])
    steps = [
        lambda: message_edit(
            editor=owner, conversation_id=group.pk, message_id=message_id, body="hello"
        ),
        lambda: reaction_set(
            user=member, conversation_id=group.pk, message_id=message_id, emoji="👍", on=True
        ),
        lambda: pin_set(user=owner, conversation_id=group.pk, message_id=message_id, on=True),
        lambda: typing_relay(user=member, conversation_id=group.pk),
        lambda: receipt_mark(user_id=member.pk, conversation_id=group.pk, seq=1, read=True),
        lambda: message_delete(actor=owner, conversation_id=group.pk, message_id=message_id),
        lambda: group_member_remove(actor=owner, group_id=group.pk, user_id=other.pk),
    ]
    for step in steps:
        with django_capture_on_commit_callbacks(execute=True):
            step()
    names = {name for name, _ in published}
    assert {
        "conversation",
        "message",
        "message_updated",
        "reaction",
        "pins",
        "typing",
        "receipt",
        "message_deleted",
        "conversation_left",
    } <= names
    for name, event in published:
        if name not in CONTROL_EVENTS:
            assert event["type"] == name, (name, event)
