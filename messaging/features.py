"""What this server offers a client, sent in the `ready` frame's `features` (docs/protocol.md).

Clients switch parts of their UI on and off from these flags and limits instead of probing with
frames and reading error texts.
"""

from typing import TypedDict

from django.conf import settings

from .services import BODY_MAX_CHARS


class Features(TypedDict):
    receipts: bool  # `delivered` / `read` frames and `receipt` events
    typing: bool
    edit: bool  # `edit` and `delete`
    changes: bool  # the `changes` frame (edits and deletes since a cursor)
    reactions: bool
    threads: bool
    pins: bool
    search: bool
    uploads: bool
    commands: bool
    edit_window_seconds: int  # how long after sending a message can still be edited
    max_body_chars: int  # the longest message body the server stores


def server_features() -> Features:
    """The frames and limits this server supports; the same for every user."""
    return {
        "receipts": True,
        "typing": True,
        "edit": True,
        "changes": True,
        "reactions": True,
        "threads": True,
        "pins": True,
        "search": True,
        "uploads": True,
        "commands": True,
        "edit_window_seconds": settings.PARLEY_EDIT_WINDOW,
        "max_body_chars": BODY_MAX_CHARS,
    }
