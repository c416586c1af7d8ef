"""The receipt frame: one member's cursors in one conversation, built by the receipt service."""

from typing import Literal, TypedDict


class ReceiptEvent(TypedDict):
    type: Literal["receipt"]
    conversation: int
    user: int
    delivered_seq: int
    read_seq: int
