"""Authentication of WebSocket handshakes: bearer token (header or ?token=) or session cookie.

The middleware only resolves who is connecting and whether the Origin is acceptable; the
consumer accepts the socket and closes it with 4401 or 4403 when the handshake failed, so
clients get a close code they can act on.
"""

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import get_user
from channels.middleware import BaseMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import split_domain_port, validate_host
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from accounts.authentication import RevocableJWTAuthentication
from accounts.selectors import SESSION_CLAIM
from accounts.services import web_session_id
from core.asyncdb import db_hop
from core.close_codes import Close
from core.errors import DATABASE_ERRORS
from integrations.websocket import API_TOKEN_PREFIX, user_for_api_token

logger = logging.getLogger(__name__)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def bearer_token(scope: dict[str, Any]) -> str | None:
    """The access token from `Authorization: Bearer ...`, else from the `token` query parameter."""
    authorization = _header(scope, b"authorization")
    if authorization:
        kind, _, token = authorization.partition(" ")
        if kind.lower() == "bearer" and token.strip():
            return token.strip()
        return ""  # present but unusable: a failed authentication, not an anonymous one
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    if values:
        return str(values[0])
    return None


def origin_allowed(origin: str) -> bool:
    """An Origin is allowed when its host is in ALLOWED_HOSTS (Django's host matching)."""
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return False
    domain, _port = split_domain_port(parts.netloc)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


@db_hop
def user_for_token(token: str):  # type: ignore[no-untyped-def]
    """(user, login-session id or None); AnonymousUser for a bad, expired or revoked token."""
    auth = RevocableJWTAuthentication()
    try:
        validated = auth.get_validated_token(token.encode())
        user = auth.get_user(validated)
    except (InvalidToken, AuthenticationFailed, TokenError):
        return AnonymousUser(), None
    session_id = validated.get(SESSION_CLAIM)
    return user, str(session_id) if session_id else None


class GatewayAuthMiddleware(BaseMiddleware):  # type: ignore[misc]  # channels is untyped
    """Puts `user`, `auth_method` and, on a refused handshake, `auth_failure` in the scope."""

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        scope = dict(scope)
        try:
            await self._authenticate(scope)
        except DATABASE_ERRORS:
            # Who is connecting cannot be told now: the consumer closes with 1013 (try again).
            logger.warning("database unavailable during a handshake", exc_info=True)
            scope["user"] = AnonymousUser()
            scope["auth_failure"] = Close.TRY_AGAIN_LATER
        return await super().__call__(scope, receive, send)

    async def _authenticate(self, scope: dict[str, Any]) -> None:
        origin = _header(scope, b"origin")
        token = bearer_token(scope)
        if token is not None:
            scope["auth_method"] = "token"
            if token.startswith(API_TOKEN_PREFIX):
                # A bot's or person's API token; its scopes limit the frames it may send.
                user, scope["auth_session"], scope["token_scopes"] = await user_for_api_token(token)
                scope["user"] = user
            elif token:
                scope["user"], scope["auth_session"] = await user_for_token(token)
            else:
                scope["user"] = AnonymousUser()
            # Non-browser clients send no Origin; a browser page from elsewhere does.
            if origin is not None and not origin_allowed(origin):
                scope["auth_failure"] = Close.FORBIDDEN
        else:
            scope["auth_method"] = "session"
            scope["user"] = await get_user(scope)
            session_key = getattr(scope.get("session"), "session_key", None)
            if scope["user"].is_authenticated and session_key:
                scope["auth_session"] = web_session_id(session_key)
            # A cookie rides along with any cross-site request: without an allowed Origin
            # this could be Cross-Site WebSocket Hijacking.
            if scope["user"].is_authenticated and (origin is None or not origin_allowed(origin)):
                scope["auth_failure"] = Close.FORBIDDEN
        if not scope["user"].is_authenticated and "auth_failure" not in scope:
            scope["auth_failure"] = Close.UNAUTHORIZED


class WebSocketSessionMiddleware(SessionMiddleware):  # type: ignore[misc]
    """channels' SessionMiddleware (the lazy `scope["session"]`), without its send wrapper.

    The wrapper saves the session and sets its cookie on `http.response.start`, which a WebSocket
    never sends; yet it resolves the lazy session twice for every frame the socket sends, a fifth
    of the server's time per delivery in a large group fan-out (docs/performance.md).
    """

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "websocket":
            return await super().__call__(scope, receive, send)
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


def GatewayAuthStack(inner):  # type: ignore[no-untyped-def]
    return CookieMiddleware(WebSocketSessionMiddleware(GatewayAuthMiddleware(inner)))
