"""API tokens on REST: `Authorization: Bearer parley_...`, beside the JWTs of people.

A bearer value that does not start with `parley_` is left to the JWT authentication. A token
allows safe methods with the `read` scope and every other method with `write`; management of
bots, tokens and webhooks needs `admin` too (integrations.api.permissions).
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from .selectors import TOKEN_PREFIX, api_token_for
from .tokens import api_token_touch


def insufficient_scope(scope: str) -> exceptions.PermissionDenied:
    return exceptions.PermissionDenied(
        {"detail": f"this API token lacks the {scope!r} scope", "code": "insufficient_scope"}
    )


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = get_authorization_header(request).decode("latin-1")
        kind, _, raw = header.partition(" ")
        raw = raw.strip()
        if kind.lower() != "bearer" or not raw.startswith(TOKEN_PREFIX):
            return None
        token = api_token_for(raw=raw)
        if token is None:
            raise exceptions.AuthenticationFailed(
                {"detail": "The API token is invalid, expired or revoked.", "code": "token_invalid"}
            )
        needed = "read" if request.method in SAFE_METHODS else "write"
        if needed not in token.scopes:
            raise insufficient_scope(needed)
        api_token_touch(token=token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal or bot API token (`parley_...`), scoped read/write/admin.",
        }
