"""Shapes of uploads as clients see them (POST /api/uploads/ and message `attachments`)."""

from typing import TypedDict

from .models import Upload


class AttachmentRef(TypedDict):
    id: str
    name: str
    size: int
    content_type: str
    url: str
    thumbnail_url: str | None
    width: int | None
    height: int | None


def attachment_ref(upload: Upload) -> AttachmentRef:
    base = f"/api/uploads/{upload.pk}"
    return {
        "id": str(upload.pk),
        "name": upload.name,
        "size": upload.size,
        "content_type": upload.content_type,
        "url": f"{base}/file",
        "thumbnail_url": f"{base}/thumbnail" if upload.thumbnail_key else None,
        "width": upload.width,
        "height": upload.height,
    }
