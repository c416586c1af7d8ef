"""Gap fills of many members of one conversation share one read
(messaging.selectors.message_history_after_many, batched by the gateway): each member still
gets exactly what message_history would give them, a stranger NotFound. Run in both
configurations."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import NotFound
from groups.services import group_member_add
from messaging.selectors import HistoryAfter, message_history, message_history_after_many
from messaging.services import message_send
from tests.factories import make_group, make_users

pytestmark = pytest.mark.django_db


def post(sender, group, n, prefix):
    for i in range(n):
        message_send(
            sender=sender, conversation_id=group.pk, client_msg_id=f"{prefix}{i}", body=f"{i}"
        )


def test_members_reading_from_the_same_seq_cost_the_same_queries_whatever_their_number():
    def queries(members: int) -> int:
        owner, *readers = make_users(*[f"q{members}-{i}" for i in range(members + 1)])
        group = make_group(owner, *readers)
        post(owner, group, 3, f"q{members}-")
        requests = [HistoryAfter(r.pk, group.pk, after_seq=0) for r in readers]
        with CaptureQueriesContext(connection) as captured:
            results = message_history_after_many(requests)
        assert all(len(page) == len(results[0][0]) > 0 for page, _ in results)
        return len(captured)

    assert queries(3) == queries(30)


def test_each_member_gets_what_message_history_gives_them_and_a_stranger_not_found():
    owner, early, stranger, late = make_users("owner", "early", "stranger", "late")
    group = make_group(owner, early)
    post(owner, group, 3, "a")
    group_member_add(actor=owner, group_id=group.pk, user_id=late.pk)
    post(early, group, 2, "b")  # early's own messages carry their receipt counts for early
    requests = [
        HistoryAfter(early.pk, group.pk, after_seq=0),
        HistoryAfter(late.pk, group.pk, after_seq=0),  # sees nothing before their join
        HistoryAfter(stranger.pk, group.pk, after_seq=0),
        HistoryAfter(owner.pk, group.pk, after_seq=2, limit=2),
    ]
    early_page, late_page, refused, owner_page = message_history_after_many(requests)
    for request, (page, has_more) in zip(
        [requests[0], requests[1], requests[3]], [early_page, late_page, owner_page], strict=True
    ):
        expected, expected_more, _ = message_history(
            user_id=request.user_id,
            conversation_id=group.pk,
            after_seq=request.after_seq,
            before_seq=None,
            limit=request.limit,
        )
        assert (page, has_more) == (expected, expected_more)
    assert len(late_page[0]) < len(early_page[0])
    assert isinstance(refused, NotFound)
    assert owner_page[1] is True  # more follow the two asked for
