from collections.abc import Mapping
from typing import Any

from django.core.cache import cache
from django.db.models import QuerySet

from .models import User

USER_SEARCH_LIMIT = 20
# The claim naming a login session: set on the refresh token at login, kept through rotation,
# copied into every access token minted from it.
SESSION_CLAIM = "sid"
# The claim holding the user's token generation when the token was issued (absent: 0).
GENERATION_CLAIM = "gen"


def user_search(*, query: str, exclude_id: int | None = None) -> QuerySet[User]:
    """Active users whose username starts with (or, failing that, contains) the query."""
    users = User.objects.filter(is_active=True, username__icontains=query.strip())
    if exclude_id is not None:
        users = users.exclude(pk=exclude_id)
    return users.order_by("username")[:USER_SEARCH_LIMIT]


def session_ended_key(session_id: str) -> str:
    return f"auth:session-ended:{session_id}"


def token_revoked(*, user: User, token: Mapping[str, Any]) -> bool:
    """True when a valid token must still be refused: issued before the user's tokens were
    revoked (an older generation), or from a login session that was logged out."""
    if token.get(GENERATION_CLAIM, 0) != user.token_generation:
        return True
    session_id = token.get(SESSION_CLAIM)
    return bool(session_id) and cache.get(session_ended_key(str(session_id))) is not None
