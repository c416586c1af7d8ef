"""Shapes of what accounts push to clients, built completely by services and selectors."""

from typing import Literal, TypedDict


class PublicUser(TypedDict):
    """A user as every other user sees them: in `ready`, search, members and message senders."""

    id: int
    username: str
    display_name: str  # the username when none is set
    avatar_url: str | None  # 256 px; None shows initials


class UserCard(PublicUser):
    """What a user card and the `user_updated` frame show: the public user and their status."""

    avatar_small_url: str | None  # 64 px
    status_text: str
    status_emoji: str
    status_expires_at: str | None
    timezone: str


class UserUpdatedEvent(TypedDict):
    type: Literal["user_updated"]
    user: UserCard


def avatar_url(key: str, size: int = 256) -> str | None:
    return f"/avatars/{key}/{size}.webp" if key else None


def public_user(*, id: int, username: str, display_name: str, avatar_key: str) -> PublicUser:
    return {
        "id": id,
        "username": username,
        "display_name": display_name or username,
        "avatar_url": avatar_url(avatar_key),
    }
