"""`delivered` and `read` frames are stored in batches (gateway/batching.py): the marks of all
sockets that arrive while a batch is being stored share the next one, one transaction and
three statements whatever their number, and each socket still gets what its own mark earned.
Run in both configurations."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatsite.asgi import runtime
from messaging.models import Membership
from messaging.services import message_send
from receipts.services import MarkRequest, receipt_mark_many
from tests.batching import hold_first_batch
from tests.factories import make_group, make_users
from tests.ws import TIMEOUT, ready_socket, receive

db = database_sync_to_async


def post(sender, group, n):
    for i in range(n):
        message_send(
            sender=sender, conversation_id=group.pk, client_msg_id=f"p{i}", body=f"message {i}"
        )


@pytest.mark.django_db
def test_a_batch_of_marks_costs_the_same_statements_for_3_members_or_30():
    def statements(members: int) -> int:
        owner, *readers = make_users(*[f"u{members}-{i}" for i in range(members + 1)])
        group = make_group(owner, *readers)
        post(owner, group, 3)
        last = group.__class__.objects.get(pk=group.pk).last_seq
        with CaptureQueriesContext(connection) as queries:
            results = receipt_mark_many(
                [MarkRequest(r.pk, group.pk, last, read=True) for r in readers]
            )
        assert [r["read_seq"] for r in results] == [last] * members
        return len(queries)

    assert statements(3) == statements(30)


@pytest.mark.django_db
def test_marks_of_one_member_in_a_batch_add_up_and_each_error_is_its_own():
    owner, reader, stranger = make_users("owner", "reader", "stranger")
    group = make_group(owner, reader)
    post(owner, group, 4)
    last = group.__class__.objects.get(pk=group.pk).last_seq
    results = receipt_mark_many(
        [
            MarkRequest(reader.pk, group.pk, last - 2, read=True),
            MarkRequest(reader.pk, group.pk, last, read=False),  # a second device, same batch
            MarkRequest(reader.pk, group.pk, last + 1, read=True),  # beyond the last message
            MarkRequest(stranger.pk, group.pk, 1, read=True),  # not a member
            MarkRequest(reader.pk, group.pk, 1, read=True),  # lower: changes nothing
        ]
    )
    after = {"delivered_seq": last, "read_seq": last - 2}
    assert {k: results[0][k] for k in after} == after
    assert {k: results[1][k] for k in after} == after
    assert (results[2].code, results[2].field) == ("bad_request", "seq")
    assert (results[3].code, results[3].field) == ("not_found", "conversation")
    assert {k: results[4][k] for k in after} == after
    cursors = Membership.objects.get(user=reader, conversation=group)
    assert (cursors.delivered_seq, cursors.read_seq) == (last, last - 2)


@pytest.fixture
def held_marks(monkeypatch):
    """The first batch of marks is held until the test releases it (tests/batching.py)."""
    return hold_first_batch(monkeypatch, receipt_mark_many)


@pytest.mark.django_db(transaction=True)
async def test_read_frames_of_many_sockets_share_a_batch_and_each_is_answered(held_marks):
    gate, batches = held_marks
    owner, first, *readers, late = await db(make_users)("owner", "first", "r0", "r1", "late")
    group = await db(make_group)(owner, first, *readers, late)
    await db(post)(owner, group, 3)
    last = (await db(group.__class__.objects.get)(pk=group.pk)).last_seq
    owner_socket, _ = await ready_socket(owner)
    first_socket, _ = await ready_socket(first)
    reader_sockets = [(await ready_socket(user))[0] for user in readers]
    late_socket, _ = await ready_socket(late)

    await first_socket.send_json_to({"type": "read", "conversation": group.pk, "seq": last})
    for _ in range(500):
        if batches:
            break
        await asyncio.sleep(0.01)
    for socket in reader_sockets:
        await socket.send_json_to({"type": "read", "conversation": group.pk, "seq": last})
    # One mark earns an error; it must not fail the others of its batch.
    await late_socket.send_json_to({"type": "read", "conversation": group.pk, "seq": last + 5})
    for _ in range(500):
        if len(runtime.here().marks.waiting) == 3:
            break
        await asyncio.sleep(0.01)
    gate.set()

    receipts = {}
    while len(receipts) < 3:
        frame = await receive(owner_socket, wait=TIMEOUT)
        if frame["type"] == "receipt":
            receipts[frame["user"]] = (frame["delivered_seq"], frame["read_seq"])
    assert receipts == {u.pk: (last, last) for u in [first, *readers]}
    while (error := await receive(late_socket))["type"] == "receipt":
        pass  # the others' receipts may come first
    assert (error["code"], error["field"]) == ("bad_request", "seq")
    assert len(batches) == 2 and len(batches[1]) == 3  # the three marks shared one batch
    # The socket that earned the error keeps working.
    await late_socket.send_json_to({"type": "read", "conversation": group.pk, "seq": last})
    frame = await receive(owner_socket, "receipt")
    assert (frame["user"], frame["read_seq"]) == (late.pk, last)
    for socket in [owner_socket, first_socket, *reader_sockets, late_socket]:
        await socket.disconnect(timeout=TIMEOUT)
