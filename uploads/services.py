"""Writes of uploads: storing a file, attaching uploads to a message (inside the send
transaction), and removing files once nothing refers to them (after commit)."""

import logging
import posixpath
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from core.errors import BadRequest, ChatError
from messaging.text import storable_text

from .errors import FileTooLarge, QuotaExceeded, UnsupportedFileType
from .events import AttachmentRef, attachment_ref
from .images import image_process
from .models import Upload
from .sniffing import HEAD_BYTES, IMAGE_TYPES, sniff

logger = logging.getLogger(__name__)

MAX_ATTACHMENTS = 10
NAME_MAX_CHARS = 200


def upload_storage():  # type: ignore[no-untyped-def]
    """The storage holding uploads (settings.STORAGES["uploads"]): local disk or S3."""
    return storages["uploads"]


def _clean_name(name: object) -> str:
    """A display name: the last path component, no control characters, at most 200 chars."""
    text = storable_text(str(name or ""), field="file")
    text = posixpath.basename(text.replace("\\", "/"))
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C").strip()
    if len(text) > NAME_MAX_CHARS:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            text = stem[: NAME_MAX_CHARS - len(ext) - 1] + "." + ext
        else:
            text = text[:NAME_MAX_CHARS]
    return text or "file"


def _used_bytes(owner_id: int) -> int:
    return Upload.objects.filter(owner_id=owner_id).aggregate(total=Sum("size"))["total"] or 0


def _check_quota(owner_id: int, size: int) -> None:
    quota = settings.PARLEY_UPLOAD_QUOTA_BYTES
    used = _used_bytes(owner_id)
    if used + size > quota:
        raise QuotaExceeded(
            f"Your files would take {used + size} bytes; your quota is {quota} bytes. "
            "Delete messages with files to free space.",
            field="file",
        )


def upload_create(*, owner: User, stream: IO[bytes], name: object, size: int) -> Upload:
    """Stores a file of its owner's, typed from its bytes, images without metadata and with a
    thumbnail; refuses a file over PARLEY_UPLOAD_MAX_BYTES or the owner's quota (nothing
    stored), and programs when PARLEY_UPLOAD_REFUSE_EXECUTABLES is on."""
    limit = settings.PARLEY_UPLOAD_MAX_BYTES
    if size > limit:
        raise FileTooLarge(limit=limit)
    if size == 0:
        raise BadRequest("The file is empty.", field="file")
    display_name = _clean_name(name)
    _check_quota(owner.pk, size)  # early, before any work; checked again under a lock below
    stream.seek(0)
    sniffed = sniff(stream.read(HEAD_BYTES))
    if sniffed.executable and settings.PARLEY_UPLOAD_REFUSE_EXECUTABLES:
        raise UnsupportedFileType("Programs cannot be uploaded.", field="file")

    width = height = None
    thumbnail: bytes | None = None
    thumbnail_type = ""
    body: File = File(stream)
    if sniffed.content_type in IMAGE_TYPES:
        processed = image_process(stream)
        width, height = processed.width, processed.height
        thumbnail, thumbnail_type = processed.thumbnail, processed.thumbnail_type
        if processed.data is not None:
            body = ContentFile(processed.data)
            size = len(processed.data)
    stream.seek(0)

    upload_id = uuid.uuid4()
    day = timezone.now().strftime("%Y/%m/%d")
    storage = upload_storage()
    key = storage.save(f"uploads/{day}/{upload_id.hex}", body)
    saved = [key]
    try:
        thumbnail_key = ""
        if thumbnail is not None:
            ext = "png" if thumbnail_type == "image/png" else "jpg"
            thumbnail_key = storage.save(
                f"uploads/{day}/{upload_id.hex}-thumb.{ext}", ContentFile(thumbnail)
            )
            saved.append(thumbnail_key)
        with transaction.atomic():
            # One upload of a user at a time gets past the quota check (the row lock).
            User.objects.select_for_update().filter(pk=owner.pk).values_list("pk").first()
            _check_quota(owner.pk, size)
            return Upload.objects.create(
                id=upload_id,
                owner=owner,
                key=key,
                thumbnail_key=thumbnail_key,
                name=display_name,
                size=size,
                content_type=sniffed.content_type,
                width=width,
                height=height,
            )
    except BaseException:
        files_delete(keys=saved)
        raise


def attachment_ids(value: object) -> list[uuid.UUID]:
    """The upload ids of a send's `attachments` (absent: none); BadRequest unless a list of at
    most MAX_ATTACHMENTS distinct upload ids."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest("attachments must be a list of upload ids", field="attachments")
    if len(value) > MAX_ATTACHMENTS:
        raise BadRequest(f"at most {MAX_ATTACHMENTS} attachments per message", field="attachments")
    ids: list[uuid.UUID] = []
    for item in value:
        try:
            parsed = uuid.UUID(item) if isinstance(item, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise BadRequest("attachments must be upload ids", field="attachments")
        if parsed in ids:
            raise BadRequest("an upload is attached once", field="attachments")
        ids.append(parsed)
    return ids


@dataclass(frozen=True)
class Claim:
    """Uploads one send attaches, checked and locked inside the send transaction."""

    uploads: list[Upload]

    @property
    def refs(self) -> list[AttachmentRef]:
        return [attachment_ref(upload) for upload in self.uploads]


def attachments_claim(*, wanted: Sequence[tuple[int, list[uuid.UUID]]]) -> list[Claim | ChatError]:
    """Per (sender id, upload ids) in `wanted`, in order: the uploads, locked, when every one
    is the sender's and not attached yet (nor claimed by an earlier entry), else BadRequest.
    Call inside the send transaction; attachments_attach then records the messages."""
    all_ids = {upload_id for _, ids in wanted for upload_id in ids}
    found: dict[uuid.UUID, Upload] = {}
    if all_ids:
        found = {
            u.pk: u
            for u in Upload.objects.select_for_update().filter(
                pk__in=all_ids, message_id__isnull=True
            )
        }
    taken: set[uuid.UUID] = set()
    results: list[Claim | ChatError] = []
    for sender_id, ids in wanted:
        uploads = [found.get(upload_id) for upload_id in ids]
        if any(u is None or u.owner_id != sender_id or u.pk in taken for u in uploads):
            results.append(
                BadRequest(
                    "attachments must be your own uploads, not attached yet",
                    field="attachments",
                )
            )
            continue
        taken.update(ids)
        results.append(Claim([u for u in uploads if u is not None]))
    return results


def attachments_attach(*, attached: Iterable[tuple[int, int, int, Claim]]) -> None:
    """Records (message id, conversation id, seq, claim): the uploads now belong to that
    message. Call in the transaction that stored the messages."""
    for message_id, conversation_id, seq, claim in attached:
        for position, upload in enumerate(claim.uploads):
            upload.message_id = message_id
            upload.message_seq = seq
            upload.conversation_id = conversation_id
            upload.position = position
        Upload.objects.bulk_update(
            claim.uploads, ["message_id", "message_seq", "conversation_id", "position"]
        )


def attachments_release(*, message_id: int) -> None:
    """Forgets a deleted message's uploads and, after commit, deletes their files (a Celery
    task: on S3 that is network work). Call inside the delete's transaction."""
    uploads = list(Upload.objects.filter(message_id=message_id))
    if not uploads:
        return
    keys = [k for u in uploads for k in (u.key, u.thumbnail_key) if k]
    Upload.objects.filter(pk__in=[u.pk for u in uploads]).delete()
    transaction.on_commit(lambda: _schedule_files_delete(keys), robust=True)


def _schedule_files_delete(keys: list[str]) -> None:
    from .tasks import upload_files_delete

    upload_files_delete.delay(keys)


def files_delete(*, keys: Iterable[str]) -> None:
    """Deletes stored files; a file already gone is no error (the task may run twice)."""
    storage = upload_storage()
    for key in keys:
        if key:
            storage.delete(key)


def uploads_prune_unattached(*, now=None) -> int:  # type: ignore[no-untyped-def]
    """Removes uploads nobody attached within PARLEY_UPLOAD_UNATTACHED_SECONDS, files after
    their rows; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.PARLEY_UPLOAD_UNATTACHED_SECONDS)
    removed = 0
    while True:
        with transaction.atomic():
            batch = list(
                Upload.objects.select_for_update(skip_locked=True)
                .filter(message_id__isnull=True, created_at__lt=cutoff)
                .order_by("created_at")[:500]
            )
            if not batch:
                return removed
            Upload.objects.filter(pk__in=[u.pk for u in batch]).delete()
        files_delete(keys=[k for u in batch for k in (u.key, u.thumbnail_key) if k])
        removed += len(batch)
