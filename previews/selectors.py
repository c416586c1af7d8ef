"""Reads of link previews."""

from collections.abc import Sequence
from typing import Any

from .events import PreviewRef, preview_ref
from .models import LinkPreview


def previews_of(message_ids: Sequence[int]) -> dict[int, list[PreviewRef]]:
    """{message id: its previews in order} for the messages that have any (one query)."""
    found: dict[int, list[PreviewRef]] = {}
    if not message_ids:
        return found
    for preview in LinkPreview.objects.filter(message_id__in=list(message_ids)).order_by(
        "message_id", "position"
    ):
        found.setdefault(preview.message_id, []).append(preview_ref(preview))
    return found


def with_previews(page: list[Any]) -> list[Any]:
    """Message objects of a page with their `previews` (an empty list when none)."""
    # Only a message with a link can have a preview: a page without one costs no query.
    found = previews_of(
        [
            int(event["id"])
            for event in page
            if not event.get("deleted") and "http" in (event.get("body") or "").lower()
        ]
    )
    for event in page:
        event["previews"] = found.get(int(event["id"]), [])
    return page
