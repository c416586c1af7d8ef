from collections.abc import Mapping
from typing import Any

from django.core.cache import cache
from django.db.models import CharField, QuerySet, Value
from django.db.models.functions import Lower
from django.utils import timezone

from messaging.events import iso

from .events import UserCard, avatar_url, public_user
from .models import Avatar, User
from .usernames import username_normalize

USER_SEARCH_LIMIT = 20
# The claim naming a login session: set on the refresh token at login, kept through rotation,
# copied into every access token minted from it.
SESSION_CLAIM = "sid"
# The claim holding the user's token generation when the token was issued (absent: 0).
GENERATION_CLAIM = "gen"


def user_search(*, query: str, exclude_id: int | None = None) -> QuerySet[User]:
    """Active users whose username starts with (or, failing that, contains) the query."""
    users = User.objects.filter(is_active=True, username__icontains=query.strip())
    users = users.select_related("bot")  # is_bot without a query per user
    if exclude_id is not None:
        users = users.exclude(pk=exclude_id)
    return users.order_by("username")[:USER_SEARCH_LIMIT]


# What `public_user` needs, as `values_list` field names (prefix "user__" through a relation).
PUBLIC_USER_FIELDS = ("username", "display_name", "avatar_key")


def user_card(*, user: User) -> UserCard:
    """The user's public profile; a status whose expiry has passed is shown as no status."""
    expired = user.status_expires_at is not None and user.status_expires_at <= timezone.now()
    return {
        **public_user(
            id=user.pk,
            username=user.username,
            display_name=user.display_name,
            avatar_key=user.avatar_key,
        ),
        "avatar_small_url": avatar_url(user.avatar_key, 64),
        "status_text": "" if expired else user.status_text,
        "status_emoji": "" if expired else user.status_emoji,
        "status_expires_at": (
            None if expired or user.status_expires_at is None else iso(user.status_expires_at)
        ),
        "timezone": user.timezone,
    }


def user_cards(*, user_ids: list[int]) -> list[UserCard]:
    """The cards of these users, ordered by id."""
    return [user_card(user=u) for u in User.objects.filter(pk__in=user_ids).order_by("pk")]


def acquaintance_ids(*, user_id: int) -> list[int]:
    """Whom a profile change of this user is told to: their contacts (presence.selectors) and
    the other member of each of their direct chats (the chat's title shows this user)."""
    from messaging.models import Conversation, Membership
    from presence.selectors import contact_ids

    partners = (
        Membership.objects.filter(
            conversation__kind=Conversation.Kind.DIRECT,
            conversation__memberships__user_id=user_id,
        )
        .exclude(user_id=user_id)
        .values_list("user_id", flat=True)
    )
    return sorted({*contact_ids(user_id=user_id), *partners})


def ready_users(*, user_id: int) -> list[UserCard]:
    """The cards `ready` carries: the user's own and those of everyone they are told about."""
    return user_cards(user_ids=[user_id, *acquaintance_ids(user_id=user_id)])


def avatar_image(*, key: str, size: int) -> bytes | None:
    """The WebP bytes of an avatar at 256 or 64 px, or None."""
    field = "large" if size == 256 else "small"
    row = Avatar.objects.filter(key=key).values_list(field, flat=True).first()
    return bytes(row) if row is not None else None


def user_for_login(*, username: str) -> User | None:
    """The account a login names: the exact name first (names from before the ASCII policy log
    in as stored), else its NFKC form in any case, as the database's unique Lower(username)
    index compares names."""
    user = User.objects.filter(username=username).first()
    if user is None:
        wanted = Lower(Value(username_normalize(username), output_field=CharField()))
        user = (
            User.objects.annotate(name_lower=Lower("username"))
            .filter(name_lower=wanted)
            .order_by("pk")
            .first()
        )
    return user


def session_ended_key(session_id: str) -> str:
    return f"auth:session-ended:{session_id}"


def token_revoked(*, user: User, token: Mapping[str, Any]) -> bool:
    """True when a valid token must still be refused: issued before the user's tokens were
    revoked (an older generation), or from a login session that was logged out."""
    if token.get(GENERATION_CLAIM, 0) != user.token_generation:
        return True
    session_id = token.get(SESSION_CLAIM)
    return bool(session_id) and cache.get(session_ended_key(str(session_id))) is not None


def socket_refusal(*, user_id: int, token_generation: int, session_id: str | None) -> str | None:
    """Why a socket authenticated a moment ago must close now, or None. A ban, a revocation or a
    logout closes sockets through the user's channel-layer groups, which a socket joins only
    after authenticating: one that authenticated just before and joined just after would miss
    its close, so it asks again once joined. "banned" or "revoked"."""
    row = User.objects.filter(pk=user_id).values_list("is_active", "token_generation").first()
    if row is None or not row[0]:
        return "banned"
    if row[1] != token_generation:
        return "revoked"
    if session_id and cache.get(session_ended_key(session_id)) is not None:
        return "revoked"
    return None
