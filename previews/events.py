"""Shapes of link previews on message objects and in the `preview` frame."""

from typing import Literal, TypedDict

from .models import LinkPreview


class PreviewRef(TypedDict):
    url: str
    title: str
    description: str
    image_url: str | None


class PreviewEvent(TypedDict):
    """Sent to a conversation when a message's link previews are ready."""

    type: Literal["preview"]
    conversation: int
    id: str
    seq: int
    previews: list[PreviewRef]


def preview_ref(preview: LinkPreview) -> PreviewRef:
    return {
        "url": preview.url,
        "title": preview.title,
        "description": preview.description,
        "image_url": preview.image_url or None,
    }
