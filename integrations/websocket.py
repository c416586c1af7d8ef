"""API tokens on the WebSocket handshake (called by gateway.authentication)."""

from typing import Any

from django.contrib.auth.models import AnonymousUser

from core.asyncdb import db_hop

from .selectors import TOKEN_PREFIX, api_token_for
from .tokens import api_token_touch

API_TOKEN_PREFIX = TOKEN_PREFIX
# Frames a token without the `write` scope may still send: they change nothing anyone sees.
READ_ONLY_FRAMES = frozenset({"ping", "sync", "changes"})


@db_hop
def user_for_api_token(raw: str) -> tuple[Any, str | None, frozenset[str]]:
    """(user, the token's login-session id, its scopes) for a live token; AnonymousUser for a
    bad, expired or revoked one."""
    token = api_token_for(raw=raw)
    if token is None:
        return AnonymousUser(), None, frozenset()
    api_token_touch(token=token)
    return token.user, token.session_id, frozenset(token.scopes)


def frame_allowed(scopes: frozenset[str] | None, frame_type: str) -> bool:
    """A socket opened with a token lacking `write` may only read (JWT/session: None, any)."""
    return scopes is None or "write" in scopes or frame_type in READ_ONLY_FRAMES
