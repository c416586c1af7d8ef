"""Shapes of the presence and typing frames, built completely by the presence services."""

from typing import Literal, TypedDict


class PresenceEvent(TypedDict):
    type: Literal["presence"]
    user: int
    status: Literal["online", "offline"]
    last_seen: str | None


class TypingEvent(TypedDict):
    type: Literal["typing"]
    conversation: int
    user: int
