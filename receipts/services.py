"""Receipts: each member's delivered and read cursors, a per-member state machine.

A message is DELIVERED to a member once their delivered_seq >= its seq and READ once their
read_seq >= its seq. Both cursors only move forward, and delivered_seq >= read_seq always:
reading implies delivery. A member who leaves (or is removed) keeps counting for what they
received and read before: their cursors are frozen in a DepartedMember row.
"""

from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest

from core.errors import BadRequest, NotFound
from messaging.models import Conversation, Membership

from .coalescing import publish_receipt
from .events import ReceiptEvent
from .models import DepartedMember


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
    current = (
        Membership.objects.filter(user_id=user_id, conversation_id=conversation_id)
        .values("delivered_seq", "read_seq", "conversation__last_seq", "conversation__kind")
        .first()
    )
    if current is None:
        raise NotFound("No such conversation.", field="conversation")
    last_seq = current["conversation__last_seq"]
    if seq > last_seq:
        raise BadRequest(
            f"seq {seq} is beyond the conversation's last message ({last_seq})", field="seq"
        )
    behind = Q(delivered_seq__lt=seq) | Q(read_seq__lt=seq) if read else Q(delivered_seq__lt=seq)
    changes = {"delivered_seq": Greatest(F("delivered_seq"), Value(seq))}
    if read:
        changes["read_seq"] = Greatest(F("read_seq"), Value(seq))
    with transaction.atomic():
        # One conditional UPDATE: concurrent marks from several devices can only raise cursors.
        moved = (
            Membership.objects.filter(user_id=user_id, conversation_id=conversation_id)
            .filter(behind)
            .update(**changes)
        )
        cursors = (
            Membership.objects.filter(user_id=user_id, conversation_id=conversation_id)
            .values_list("delivered_seq", "read_seq")
            .first()
        )
        if cursors is None:  # left (or was removed) meanwhile
            raise NotFound("No such conversation.", field="conversation")
        delivered, read_seq = cursors
        event = _receipt(
            conversation_id=conversation_id, user_id=user_id, delivered=delivered, read=read_seq
        )
        if moved:
            # Large conversations get each member's receipts at most once a second (the newest
            # wins); direct chats and small groups at once.
            coalesce = (
                current["conversation__kind"] != Conversation.Kind.DIRECT
                and Membership.objects.filter(conversation_id=conversation_id).count()
                > settings.PARLEY_RECEIPT_COALESCE_MEMBERS
            )
            transaction.on_commit(
                partial(publish_receipt, dict(event), coalesce=coalesce), robust=True
            )
    return event


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
