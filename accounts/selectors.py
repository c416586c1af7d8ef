from collections.abc import Mapping
from typing import Any

from django.core.cache import cache
from django.db.models import CharField, QuerySet, Value
from django.db.models.functions import Lower

from .models import User
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
