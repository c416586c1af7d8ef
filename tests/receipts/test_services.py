"""Receipt cursors as a per-member state machine, unread counts, and what history tells the
sender. Run in both configurations."""

import pytest

from core.errors import BadRequest, NotFound
from groups.services import group_leave, group_member_add, group_member_remove
from messaging.models import Membership
from messaging.selectors import conversation_summaries, message_history
from messaging.services import message_send
from receipts.services import receipt_mark
from tests.factories import make_direct, make_group, make_user, make_users

pytestmark = pytest.mark.django_db


def send(sender, conversation, n, prefix="m"):
    for i in range(n):
        message_send(
            sender=sender,
            conversation_id=conversation.pk,
            client_msg_id=f"{prefix}{sender.pk}-{i}",
            body=f"message {i}",
        )


def cursors(user, conversation):
    m = Membership.objects.get(user=user, conversation=conversation)
    return m.delivered_seq, m.read_seq


def unread(user, conversation):
    (summary,) = conversation_summaries(user_id=user.pk, conversation_ids=[conversation.pk])
    return summary["unread"]


def test_delivered_then_read_moves_each_cursor_and_reading_implies_delivery():
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    send(alice, direct, 5)

    event = receipt_mark(user_id=bob.pk, conversation_id=direct.pk, seq=2, read=False)
    assert event == {
        "type": "receipt",
        "conversation": direct.pk,
        "user": bob.pk,
        "delivered_seq": 2,
        "read_seq": 0,
    }
    # Reading past the delivered cursor raises it too.
    receipt_mark(user_id=bob.pk, conversation_id=direct.pk, seq=4, read=True)
    assert cursors(bob, direct) == (4, 4)
    receipt_mark(user_id=bob.pk, conversation_id=direct.pk, seq=5, read=False)
    assert cursors(bob, direct) == (5, 4)


def test_cursors_never_move_backwards_and_a_lower_value_is_no_error():
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    send(alice, direct, 5)
    receipt_mark(user_id=bob.pk, conversation_id=direct.pk, seq=4, read=True)

    event = receipt_mark(user_id=bob.pk, conversation_id=direct.pk, seq=2, read=True)
    assert (event["delivered_seq"], event["read_seq"]) == (4, 4)
    receipt_mark(user_id=bob.pk, conversation_id=direct.pk, seq=1, read=False)
    assert cursors(bob, direct) == (4, 4)


def test_seq_beyond_last_message_and_strangers_are_refused():
    alice, bob, eve = make_users("alice", "bob", "eve")
    direct = make_direct(alice, bob)
    send(alice, direct, 2)
    with pytest.raises(BadRequest):
        receipt_mark(user_id=bob.pk, conversation_id=direct.pk, seq=3, read=True)
    with pytest.raises(NotFound):
        receipt_mark(user_id=eve.pk, conversation_id=direct.pk, seq=1, read=True)
    with pytest.raises(NotFound):
        receipt_mark(user_id=bob.pk, conversation_id=direct.pk + 1000, seq=0, read=True)
    assert cursors(bob, direct) == (0, 0)


def test_receipt_is_published_after_commit_only_when_a_cursor_moved(
    django_capture_on_commit_callbacks,
):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    send(alice, direct, 3)
    with django_capture_on_commit_callbacks() as moved:
        receipt_mark(user_id=bob.pk, conversation_id=direct.pk, seq=3, read=True)
    with django_capture_on_commit_callbacks() as unchanged:
        receipt_mark(user_id=bob.pk, conversation_id=direct.pk, seq=2, read=True)
    assert len(moved) == 1
    assert unchanged == []


def test_unread_counts_follow_sends_reads_and_a_late_join():
    alice, bob, carol, dave = make_users("alice", "bob", "carol", "dave")
    group = make_group(alice, bob, carol)
    send(alice, group, 3)
    send(bob, group, 2)
    # Own messages never count as unread.
    assert [unread(u, group) for u in (alice, bob, carol)] == [2, 3, 5]

    receipt_mark(user_id=carol.pk, conversation_id=group.pk, seq=4, read=True)
    assert unread(carol, group) == 1
    receipt_mark(user_id=carol.pk, conversation_id=group.pk, seq=3, read=False)  # no effect
    assert unread(carol, group) == 1
    # Delivery alone does not clear unread.
    receipt_mark(user_id=alice.pk, conversation_id=group.pk, seq=5, read=False)
    assert unread(alice, group) == 2

    # Dave joins now: only what is sent from here on is unread for him.
    group.refresh_from_db()
    Membership.objects.create(conversation=group, user=dave, joined_seq=group.last_seq)
    assert unread(dave, group) == 0
    send(carol, group, 2)
    assert unread(dave, group) == 2
    assert unread(alice, group) == 4
    receipt_mark(user_id=dave.pk, conversation_id=group.pk, seq=6, read=True)
    assert unread(dave, group) == 1


def test_direct_history_tells_the_sender_sent_delivered_read():
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    send(alice, direct, 3)
    send(bob, direct, 1)
    receipt_mark(user_id=bob.pk, conversation_id=direct.pk, seq=1, read=True)
    receipt_mark(user_id=bob.pk, conversation_id=direct.pk, seq=2, read=False)

    page, _, _ = message_history(
        user_id=alice.pk, conversation_id=direct.pk, after_seq=0, before_seq=None, limit=50
    )
    assert [m.get("status") for m in page] == ["read", "delivered", "sent", None]
    # Bob sees no receipt state on alice's messages; his own is "sent" (alice marked nothing).
    page, _, _ = message_history(
        user_id=bob.pk, conversation_id=direct.pk, after_seq=0, before_seq=None, limit=50
    )
    assert [m.get("status") for m in page] == [None, None, None, "sent"]


def test_group_history_counts_other_members_and_ignores_later_joiners():
    alice, bob, carol, dave = make_users("alice", "bob", "carol", "dave")
    group = make_group(alice, bob, carol)
    send(alice, group, 2)
    receipt_mark(user_id=bob.pk, conversation_id=group.pk, seq=2, read=True)
    receipt_mark(user_id=carol.pk, conversation_id=group.pk, seq=1, read=False)
    group.refresh_from_db()
    # A later member who caught up to the end does not count for messages from before.
    Membership.objects.create(
        conversation=group, user=dave, joined_seq=group.last_seq, delivered_seq=2, read_seq=2
    )
    send(alice, group, 1, prefix="late")
    receipt_mark(user_id=dave.pk, conversation_id=group.pk, seq=3, read=True)

    page, _, _ = message_history(
        user_id=alice.pk, conversation_id=group.pk, after_seq=0, before_seq=None, limit=50
    )
    assert [(m["delivered_count"], m["read_count"]) for m in page] == [(2, 1), (1, 1), (1, 1)]
    assert all("status" not in m for m in page)


def test_group_history_state_costs_a_bounded_number_of_queries(django_assert_max_num_queries):
    owner = make_user("owner")
    members = [make_user() for _ in range(30)]
    group = make_group(owner, *members)
    send(owner, group, 40)
    for i, member in enumerate(members):
        receipt_mark(user_id=member.pk, conversation_id=group.pk, seq=i, read=i % 2 == 0)
    # Membership, the page, the receipts of current and departed members, the page's
    # attachments (one query however many messages); none per member.
    with django_assert_max_num_queries(5):
        page, _, _ = message_history(
            user_id=owner.pk, conversation_id=group.pk, after_seq=0, before_seq=None, limit=50
        )
    assert page[0]["delivered_count"] == 29  # everyone but the member who marked seq 0
    assert page[29]["delivered_count"] == 0


def counts(viewer, conversation):
    page, _, _ = message_history(
        user_id=viewer.pk, conversation_id=conversation.pk, after_seq=0, before_seq=None, limit=50
    )
    return {m["seq"]: (m["delivered_count"], m["read_count"]) for m in page if "read_count" in m}


def test_members_who_left_or_were_removed_still_count_for_what_they_read():
    alice, bob, carol, dave = make_users("alice", "bob", "carol", "dave")
    group = make_group(alice, bob, carol, dave)
    send(alice, group, 2)
    receipt_mark(user_id=bob.pk, conversation_id=group.pk, seq=1, read=True)
    receipt_mark(user_id=carol.pk, conversation_id=group.pk, seq=2, read=True)
    receipt_mark(user_id=dave.pk, conversation_id=group.pk, seq=2, read=False)
    before = counts(alice, group)
    assert before == {1: (3, 2), 2: (2, 1)}

    group_leave(user=bob, group_id=group.pk)
    group_member_remove(actor=alice, group_id=group.pk, user_id=carol.pk)
    assert counts(alice, group) == before


def test_a_member_who_rejoins_is_counted_once_per_message():
    alice, bob, carol = make_users("alice", "bob", "carol")
    group = make_group(alice, bob, carol)
    send(alice, group, 1)
    receipt_mark(user_id=bob.pk, conversation_id=group.pk, seq=1, read=True)
    group_leave(user=bob, group_id=group.pk)
    group_member_add(actor=alice, group_id=group.pk, user_id=bob.pk)
    send(alice, group, 1, prefix="again")
    group.refresh_from_db()
    # Back, bob reads to the end: the first message was read by him once, not twice.
    receipt_mark(user_id=bob.pk, conversation_id=group.pk, seq=group.last_seq, read=True)
    assert counts(alice, group) == {1: (1, 1), 4: (1, 1)}

    # Removed this time, and back again: still once each.
    group_member_remove(actor=alice, group_id=group.pk, user_id=bob.pk)
    group_member_add(actor=alice, group_id=group.pk, user_id=bob.pk)
    group.refresh_from_db()
    receipt_mark(user_id=bob.pk, conversation_id=group.pk, seq=group.last_seq, read=True)
    assert counts(alice, group) == {1: (1, 1), 4: (1, 1)}


def test_group_history_with_departed_members_costs_a_bounded_number_of_queries(
    django_assert_max_num_queries,
):
    owner = make_user("owner")
    members = [make_user() for _ in range(12)]
    group = make_group(owner, *members)
    send(owner, group, 20)
    for i, member in enumerate(members):
        receipt_mark(user_id=member.pk, conversation_id=group.pk, seq=i + 1, read=True)
    for member in members[::2]:
        group_leave(user=member, group_id=group.pk)
    # As above: membership, page, receipts (current and departed together), attachments.
    with django_assert_max_num_queries(5):
        page, _, _ = message_history(
            user_id=owner.pk, conversation_id=group.pk, after_seq=0, before_seq=None, limit=50
        )
    assert [page[seq - 1]["read_count"] for seq in (1, 6, 12, 13)] == [12, 7, 1, 0]
