"""Reads of uploads: the attachments of messages, and who may download a file."""

import uuid
from collections.abc import Sequence
from typing import Any

from core.errors import NotFound
from messaging.models import Membership

from .events import AttachmentRef, attachment_ref
from .models import Upload


def attachments_of(message_ids: Sequence[int]) -> dict[int, list[AttachmentRef]]:
    """{message id: its attachments in order} for the messages that have any (one query)."""
    found: dict[int, list[AttachmentRef]] = {}
    if not message_ids:
        return found
    for upload in Upload.objects.filter(message_id__in=list(message_ids)).order_by(
        "message_id", "position"
    ):
        found.setdefault(upload.message_id, []).append(attachment_ref(upload))  # type: ignore[arg-type]
    return found


def with_attachments(page: list[Any]) -> list[Any]:
    """Message objects of a page with their `attachments` (an empty list when none)."""
    found = attachments_of([int(event["id"]) for event in page if not event.get("deleted")])
    for event in page:
        event["attachments"] = found.get(int(event["id"]), [])
    return page


def upload_for_download(*, user_id: int, upload_id: str) -> Upload:
    """The upload if the user may download it: its owner, or, once attached, a member of the
    conversation who may see the message (joined before it). Else NotFound, whether or not it
    exists."""
    try:
        pk = uuid.UUID(upload_id)
    except ValueError:
        raise NotFound("No such file.", field="id") from None
    upload = Upload.objects.filter(pk=pk).first()
    if upload is None:
        raise NotFound("No such file.", field="id")
    if upload.owner_id == user_id:
        return upload
    if upload.message_id is None:
        raise NotFound("No such file.", field="id")
    allowed = Membership.objects.filter(
        conversation_id=upload.conversation_id,
        user_id=user_id,
        joined_seq__lt=upload.message_seq,
    ).exists()
    if not allowed:
        raise NotFound("No such file.", field="id")
    return upload
