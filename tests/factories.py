"""Plain factory functions for test data (sync; wrap in database_sync_to_async in async tests)."""

import itertools

from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from groups.services import group_create
from messaging.models import Conversation
from messaging.services import conversation_direct_open, message_send

PASSWORD = "correct-horse-battery-9"
_numbers = itertools.count(1)


def make_user(username: str | None = None, **fields) -> User:
    username = username or f"user{next(_numbers)}"
    user = User(username=username, **fields)
    user.set_password(PASSWORD)
    user.save()
    return user


def person(user: User) -> dict:
    """A user as others see them in every user object (accounts.events.PublicUser)."""
    avatar = f"/avatars/{user.avatar_key}/256.webp" if user.avatar_key else None
    return {
        "id": user.pk,
        "username": user.username,
        "display_name": user.display_name or user.username,
        "avatar_url": avatar,
    }


def access_token(user: User) -> str:
    return str(AccessToken.for_user(user))


def make_direct(a: User, b: User, *, replied: bool = False) -> Conversation:
    """The direct chat of a and b; `replied`: each has sent a message in it (so they share
    presence, docs/protocol.md)."""
    conversation, _ = conversation_direct_open(user=a, other_id=b.pk)
    if replied:
        for sender in (a, b):
            message_send(
                sender=sender,
                conversation_id=conversation.pk,
                client_msg_id=f"hello-{conversation.pk}-{sender.pk}",
                body="hello",
            )
    return conversation


def make_group(owner: User, *members: User, name: str = "team") -> Conversation:
    return group_create(creator=owner, name=name, member_ids=[m.pk for m in members])


def make_users(*usernames: str) -> list[User]:
    return [make_user(name) for name in usernames]
