"""Retention: how long each conversation keeps its messages, and the daily task that deletes
what is older.

A conversation keeps messages for its own `retention_days`, else the server's
PARLEY_RETENTION_DAYS (0: forever); a legal hold (staff) keeps everything. Old messages go two
ways. On PostgreSQL a whole monthly partition is dropped (`partitions detach --drop`) when every
conversation with messages in it has expired past the month's end; otherwise rows are deleted
in bounded batches, each its own short transaction. Attachments, link previews, reactions,
mentions, pins, edit history and thread summaries go with their messages. Seqs are never
reused: the conversation's `first_seq` moves up, and `sync` and history answer it.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from conversations.models import (
    ConversationChange,
    Mention,
    MessageEdit,
    Pin,
    Reaction,
    ThreadSummary,
)
from core.errors import BadRequest, Forbidden, NotFound
from messaging import history_cache, partitions
from messaging.ids import message_id_floor
from messaging.models import Conversation, Membership, Message, MessageKey
from messaging.services import system_message_store
from previews.models import LinkPreview
from uploads.models import Upload

from .models import ConversationRetention

logger = logging.getLogger(__name__)

MAX_DAYS = 36500
UNSET: Any = object()
Progress = Callable[..., None]


def server_retention_days() -> int | None:
    days = settings.PARLEY_RETENTION_DAYS
    return days if days and days > 0 else None


def effective_days(policy: ConversationRetention | None) -> int | None:
    """Days this conversation keeps messages; None keeps them forever."""
    if policy is not None and policy.legal_hold:
        return None
    if policy is not None and policy.retention_days:
        return policy.retention_days
    return server_retention_days()


def validate_retention_days(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise BadRequest(
            f"retention_days must be a whole number of days from 1 to {MAX_DAYS}, or null to "
            "follow the server's setting",
            field="retention_days",
        )
    return value


def retention_data(
    conversation: Conversation, policy: ConversationRetention | None, *, can_edit: bool
) -> dict[str, Any]:
    return {
        "conversation": conversation.pk,
        "retention_days": policy.retention_days if policy else None,
        "effective_days": effective_days(policy),
        "server_days": server_retention_days(),
        "legal_hold": bool(policy and policy.legal_hold),
        "first_seq": policy.first_seq if policy else 1,
        "can_edit": can_edit,
    }


def _role(user: User, conversation: Conversation) -> str | None:
    return (
        Membership.objects.filter(conversation=conversation, user=user)
        .values_list("role", flat=True)
        .first()
    )


def _can_edit(user: User, conversation: Conversation, role: str | None) -> bool:
    if user.is_staff:
        return True
    return conversation.kind == Conversation.Kind.GROUP and role in (
        Membership.Role.OWNER,
        Membership.Role.ADMIN,
    )


def retention_get(*, user: User, conversation_id: int) -> dict[str, Any]:
    """A conversation's retention as its members (and staff) see it."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    role = _role(user, conversation) if conversation else None
    if conversation is None or (role is None and not user.is_staff):
        raise NotFound("No such conversation.", field="conversation")
    policy = ConversationRetention.objects.filter(conversation=conversation).first()
    return retention_data(conversation, policy, can_edit=_can_edit(user, conversation, role))


def retention_set(
    *, actor: User, conversation_id: int, retention_days: Any = UNSET, legal_hold: Any = UNSET
) -> dict[str, Any]:
    """Group owners/admins and staff set a group's retention; only staff set a direct chat's
    (which otherwise follows the server) and a legal hold. Recorded as a system message."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        role = _role(actor, conversation) if conversation else None
        if conversation is None or (role is None and not actor.is_staff):
            raise NotFound("No such conversation.", field="conversation")
        if not _can_edit(actor, conversation, role):
            raise Forbidden(
                "Only the group's owner or admins, or staff, can change its retention.",
                field="retention_days",
            )
        if legal_hold is not UNSET:
            if not isinstance(legal_hold, bool):
                raise BadRequest("legal_hold must be true or false", field="legal_hold")
            if not actor.is_staff:
                raise Forbidden("Only staff can place a legal hold.", field="legal_hold")
        policy, _ = ConversationRetention.objects.get_or_create(conversation=conversation)
        changed = []
        if retention_days is not UNSET:
            days = validate_retention_days(retention_days)
            if days != policy.retention_days:
                policy.retention_days = days
                changed.append("retention_days")
        if legal_hold is not UNSET and legal_hold != policy.legal_hold:
            policy.legal_hold = legal_hold
            changed.append("legal_hold")
        if changed:
            policy.save(update_fields=[*changed, "updated_at"])
            days = effective_days(policy)
            text = (
                f"Messages here are deleted after {days} days" if days else "Messages here are kept"
            )
            if policy.legal_hold:
                text += " (legal hold)"
            system_message_store(
                conversation_id=conversation.pk,
                body=f"{actor.username} changed retention: {text}",
                system={
                    "event": "retention_changed",
                    "retention_days": policy.retention_days,
                    "effective_days": days,
                    "legal_hold": policy.legal_hold,
                },
            )
    return retention_data(conversation, policy, can_edit=True)


# --- deleting ----------------------------------------------------------------------------------


def messages_forget(*, message_ids: list[int]) -> list[str]:
    """Deletes these messages and everything hanging on them; returns the storage keys of
    their files (deleted after commit by the caller). Call inside a transaction."""
    uploads = list(
        Upload.objects.filter(message_id__in=message_ids).values_list("pk", "key", "thumbnail_key")
    )
    Upload.objects.filter(pk__in=[u[0] for u in uploads]).delete()
    LinkPreview.objects.filter(message_id__in=message_ids).delete()
    Reaction.objects.filter(message_id__in=message_ids).delete()
    Mention.objects.filter(message_id__in=message_ids).delete()
    Pin.objects.filter(message_id__in=message_ids).delete()
    MessageEdit.objects.filter(message_id__in=message_ids).delete()
    ThreadSummary.objects.filter(root_id__in=message_ids).delete()
    MessageKey.objects.filter(message_id__in=message_ids).delete()
    Message.objects.filter(id__in=message_ids).delete()
    return [k for _, key, thumb in uploads for k in (key, thumb) if k]


def _files_delete_after_commit(keys: list[str]) -> None:
    if keys:
        from uploads.tasks import upload_files_delete

        transaction.on_commit(partial(upload_files_delete.delay, keys), robust=True)


def _first_seq_raise(conversation_id: int, first_seq: int) -> None:
    policy, _ = ConversationRetention.objects.select_for_update().get_or_create(
        conversation_id=conversation_id
    )
    if first_seq > policy.first_seq:
        policy.first_seq = first_seq
        policy.save(update_fields=["first_seq", "updated_at"])
    ConversationChange.objects.filter(
        conversation_id=conversation_id, message_seq__lt=policy.first_seq
    ).delete()


def conversation_trim(*, conversation_id: int, cutoff: datetime) -> int:
    """Deletes the conversation's messages created before `cutoff` (and any left below the
    new first seq), PARLEY_RETENTION_BATCH per transaction; returns how many."""
    cutoff_id = message_id_floor(cutoff)
    deleted = 0
    while True:
        with transaction.atomic():
            policy = ConversationRetention.objects.filter(conversation_id=conversation_id).first()
            first_seq = policy.first_seq if policy else 1
            rows = list(
                Message.objects.filter(conversation_id=conversation_id, id__lt=cutoff_id)
                .order_by("seq")
                .values_list("id", "seq")[: settings.PARLEY_RETENTION_BATCH]
            ) or list(
                Message.objects.filter(
                    conversation_id=conversation_id, seq__lt=first_seq
                ).values_list("id", "seq")[: settings.PARLEY_RETENTION_BATCH]
            )
            if not rows:
                return deleted
            keys = messages_forget(message_ids=[r[0] for r in rows])
            _first_seq_raise(conversation_id, max(r[1] for r in rows) + 1)
            _files_delete_after_commit(keys)
            transaction.on_commit(
                partial(history_cache.history_cache_invalidate, conversation_id), robust=True
            )
        deleted += len(rows)


def _policies() -> dict[int, ConversationRetention]:
    return {p.conversation_id: p for p in ConversationRetention.objects.all()}


def _partitions_drop(
    *, now: datetime, policies: dict[int, ConversationRetention]
) -> tuple[list[str], int]:
    """Drops whole monthly partitions whose every conversation has expired past the month's
    end (PostgreSQL). Returns the partitions dropped and the messages they held."""
    if not partitions.is_partitioned(connection):
        return [], 0
    dropped = []
    rows = 0
    for partition in partitions.partitions_list():
        if partition.rows == 0 or partition.high > message_id_floor(now):
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT conversation_id, max(seq) FROM {partition.name} GROUP BY conversation_id"  # noqa: S608
            )
            present = {int(c): int(s) for c, s in cursor.fetchall()}
        expired = True
        for conversation_id in present:
            days = effective_days(policies.get(conversation_id))
            if days is None or message_id_floor(now - timedelta(days=days)) < partition.high:
                expired = False
                break
        if not expired:
            continue
        low, high = partition.low, partition.high
        with transaction.atomic():
            uploads = list(
                Upload.objects.filter(message_id__gte=low, message_id__lt=high).values_list(
                    "key", "thumbnail_key"
                )
            )
            Upload.objects.filter(message_id__gte=low, message_id__lt=high).delete()
            for model, field in (
                (LinkPreview, "message_id"),
                (Reaction, "message_id"),
                (Mention, "message_id"),
                (Pin, "message_id"),
                (MessageEdit, "message_id"),
                (ThreadSummary, "root_id"),
            ):
                model.objects.filter(**{f"{field}__gte": low, f"{field}__lt": high}).delete()
            for conversation_id, max_seq in present.items():
                _first_seq_raise(conversation_id, max_seq + 1)
            _files_delete_after_commit([k for pair in uploads for k in pair if k])
        partitions.partition_detach(partition, drop=True, dump_dir=None)
        for conversation_id in present:
            history_cache.history_cache_invalidate(conversation_id)
        logger.info("retention dropped partition %s (%d messages)", partition.name, partition.rows)
        dropped.append(partition.name)
        rows += partition.rows
    return dropped, rows


def retention_apply(
    *, now: datetime | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """The daily run: drops whole expired months, then trims each conversation that keeps
    messages for a limited time. Returns what it did."""
    now = now or timezone.now()
    progress = progress or (lambda **_: None)
    policies = _policies()
    dropped, total = _partitions_drop(now=now, policies=policies)
    if server_retention_days() is not None:
        candidates = Conversation.objects.values_list("pk", flat=True).order_by("pk")
    else:
        candidates = sorted(cid for cid, p in policies.items() if effective_days(p) is not None)
    candidates = list(candidates)
    trimmed: dict[str, int] = {}
    for index, conversation_id in enumerate(candidates):
        days = effective_days(policies.get(conversation_id))
        if days is not None:
            count = conversation_trim(
                conversation_id=conversation_id, cutoff=now - timedelta(days=days)
            )
            if count:
                trimmed[str(conversation_id)] = count
                total += count
        if index % 100 == 0:
            progress(stage="trimming", done=index, total=len(candidates), deleted=total)
    progress(stage="done", done=len(candidates), total=len(candidates), deleted=total)
    return {"partitions_dropped": dropped, "messages_deleted": total, "conversations": trimmed}


def history_first_seq(*, conversation_id: int) -> int:
    """The lowest seq the conversation's history can still hold (1 until retention deleted
    older messages): what `sync` and history answer as `first_seq`."""
    value = (
        ConversationRetention.objects.filter(conversation_id=conversation_id)
        .values_list("first_seq", flat=True)
        .first()
    )
    return value or 1
