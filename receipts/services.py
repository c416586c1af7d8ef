"""Receipts: each member's delivered and read cursors, a per-member state machine.

A message is DELIVERED to a member once their delivered_seq >= its seq and READ once their
read_seq >= its seq. Both cursors only move forward, and delivered_seq >= read_seq always:
reading implies delivery. A member who leaves (or is removed) keeps counting for what they
received and read before: their cursors are frozen in a DepartedMember row.
"""

from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count

from core.errors import BadRequest, ChatError, NotFound
from messaging.models import Conversation, Membership

from .coalescing import publish_receipts
from .events import ReceiptEvent
from .models import DepartedMember


@dataclass(frozen=True, slots=True)
class MarkRequest:
    """A member's `delivered` (read=False) or `read` mark up to seq."""

    user_id: int
    conversation_id: int
    seq: int
    read: bool


def _receipt(*, conversation_id: int, user_id: int, delivered: int, read: int) -> ReceiptEvent:
    return {
        "type": "receipt",
        "conversation": conversation_id,
        "user": user_id,
        "delivered_seq": delivered,
        "read_seq": read,
    }


def receipt_mark(*, user_id: int, conversation_id: int, seq: int, read: bool) -> ReceiptEvent:
    """Raises the member's delivered cursor (and read cursor, when `read`) to seq, never lowers
    either, keeps delivered_seq >= read_seq, and publishes a change to the conversation's
    sockets after commit. Returns the member's cursors."""
    result = receipt_mark_many(
        [MarkRequest(user_id=user_id, conversation_id=conversation_id, seq=seq, read=read)]
    )[0]
    if isinstance(result, Exception):
        raise result
    return result


def receipt_mark_many(requests: list[MarkRequest]) -> list[ReceiptEvent | Exception]:
    """Marks, each exactly as receipt_mark would, in one transaction and three statements
    whatever their number: the gateway batches the `delivered` and `read` frames of all sockets
    that arrive while earlier ones are being stored (gateway/batching.py), as it does sends.
    Returns, per request and in order, the member's cursors after it or the error it earned
    (not a member: NotFound; beyond the last message: BadRequest); one request's error never
    fails the others."""
    if not requests:
        return []
    results: list[ReceiptEvent | Exception | None] = [None] * len(requests)
    with transaction.atomic():
        current = _memberships_locked(requests)
        # The cursors each member is raised to: every mark delivers, `read` marks also read.
        wanted: dict[tuple[int, int], tuple[int, int]] = {}
        for index, request in enumerate(requests):
            key = (request.conversation_id, request.user_id)
            row = current.get(key)
            error: ChatError | None = None
            if row is None:
                error = NotFound("No such conversation.", field="conversation")
            elif request.seq > row.last_seq:
                error = BadRequest(
                    f"seq {request.seq} is beyond the conversation's last message ({row.last_seq})",
                    field="seq",
                )
            if error is not None:
                results[index] = error
                continue
            delivered, read = wanted.get(key, (0, 0))
            wanted[key] = (
                max(delivered, request.seq),
                max(read, request.seq if request.read else 0),
            )
        moved = _cursors_raise(
            {
                key: target
                for key, target in wanted.items()
                if target[0] > current[key].delivered or target[1] > current[key].read
            }
        )
        for index, request in enumerate(requests):
            if results[index] is not None:
                continue
            key = (request.conversation_id, request.user_id)
            delivered, read = moved.get(key, (current[key].delivered, current[key].read))
            results[index] = _receipt(
                conversation_id=key[0], user_id=key[1], delivered=delivered, read=read
            )
        if moved:
            # Large conversations get each member's receipts at most once a second (the newest
            # wins); direct chats and small groups at once.
            large = _large_conversations(
                {cid for cid, uid in moved if current[(cid, uid)].kind != Conversation.Kind.DIRECT}
            )
            events = [
                (
                    _receipt(
                        conversation_id=cid, user_id=uid, delivered=cursors[0], read=cursors[1]
                    ),
                    cid in large,
                )
                for (cid, uid), cursors in moved.items()
            ]
            transaction.on_commit(partial(publish_receipts, events), robust=True)
    return results  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class _Cursors:
    delivered: int
    read: int
    last_seq: int
    kind: str


def _memberships_locked(requests: list[MarkRequest]) -> dict[tuple[int, int], _Cursors]:
    """{(conversation, user): cursors} of the requesting members, their rows locked in
    (conversation, user) order (PostgreSQL) so that the cursors read are the ones raised and
    two batches never wait on each other in opposite orders. Plain SQL, like the send path's
    membership check: one statement for the batch."""
    conversation_ids = sorted({r.conversation_id for r in requests})
    user_ids = sorted({r.user_id for r in requests})
    membership = Membership._meta.db_table
    conversation = Conversation._meta.db_table
    lock = " FOR UPDATE OF m" if connection.features.has_select_for_update_of else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT m.conversation_id, m.user_id, m.delivered_seq, m.read_seq, c.last_seq, "  # noqa: S608
            f"c.kind FROM {membership} m JOIN {conversation} c ON c.id = m.conversation_id "
            f"WHERE m.conversation_id IN ({', '.join('%s' for _ in conversation_ids)}) "
            f"AND m.user_id IN ({', '.join('%s' for _ in user_ids)}) "
            f"ORDER BY m.conversation_id, m.user_id{lock}",
            [*conversation_ids, *user_ids],
        )
        wanted = {(r.conversation_id, r.user_id) for r in requests}
        return {
            (int(cid), int(uid)): _Cursors(int(delivered), int(read), int(last), kind)
            for cid, uid, delivered, read, last, kind in cursor.fetchall()
            if (cid, uid) in wanted
        }


def _cursors_raise(
    targets: dict[tuple[int, int], tuple[int, int]],
) -> dict[tuple[int, int], tuple[int, int]]:
    """Raises each (conversation, user)'s (delivered, read) cursors to at least the target, in
    one UPDATE; returns the cursors of the rows it changed."""
    if not targets:
        return {}
    membership = Membership._meta.db_table
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    rows = ", ".join("(%s, %s, %s, %s)" for _ in targets)
    params = [value for (cid, uid), (d, r) in targets.items() for value in (cid, uid, d, r)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH v (cid, uid, d, r) AS (VALUES {rows}) "  # noqa: S608
            f"UPDATE {membership} SET "
            f"delivered_seq = {greatest}({membership}.delivered_seq, v.d), "
            f"read_seq = {greatest}({membership}.read_seq, v.r) "
            f"FROM v WHERE {membership}.conversation_id = v.cid AND {membership}.user_id = v.uid "
            f"AND ({membership}.delivered_seq < v.d OR {membership}.read_seq < v.r) "
            f"RETURNING {membership}.conversation_id, {membership}.user_id, "
            f"{membership}.delivered_seq, {membership}.read_seq",
            params,
        )
        return {(int(cid), int(uid)): (int(d), int(r)) for cid, uid, d, r in cursor.fetchall()}


def _large_conversations(conversation_ids: set[int]) -> set[int]:
    """Those of these conversations with more members than PARLEY_RECEIPT_COALESCE_MEMBERS."""
    if not conversation_ids:
        return set()
    counts = (
        Membership.objects.filter(conversation_id__in=conversation_ids)
        .values("conversation_id")
        .annotate(members=Count("id"))
        .filter(members__gt=settings.PARLEY_RECEIPT_COALESCE_MEMBERS)
        .values_list("conversation_id", flat=True)
    )
    return set(counts)


def departed_member_record(*, membership_id: int) -> None:
    """Freezes a leaving member's cursors so the messages they received and read keep counting
    them; runs inside the transaction that deletes the membership, with its row locked so a
    concurrent mark either lands before the freeze or finds the member gone."""
    with transaction.atomic(savepoint=False):
        cursors = (
            Membership.objects.select_for_update()
            .filter(pk=membership_id)
            .values("conversation_id", "user_id", "joined_seq", "delivered_seq", "read_seq")
            .first()
        )
        # A member who received nothing since joining counts for no message: nothing to keep.
        if cursors is not None and cursors["delivered_seq"] > cursors["joined_seq"]:
            DepartedMember.objects.create(**cursors)
