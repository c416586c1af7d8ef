"""Bearer-token authentication: simplejwt's, refusing revoked tokens (accounts.selectors)."""

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from .selectors import token_revoked


class RevocableJWTAuthentication(JWTAuthentication):
    """A token is refused after logout (its session), a password change or "log out
    everywhere" (every token issued before), even though its signature and expiry are valid."""

    def get_user(self, validated_token: Any) -> Any:
        user = super().get_user(validated_token)
        if token_revoked(user=user, token=validated_token):
            raise AuthenticationFailed("Token has been revoked", code="token_revoked")
        return user


class RevocableJWTScheme(SimpleJWTScheme):
    """The OpenAPI description: simplejwt's bearer scheme."""

    target_class = "accounts.authentication.RevocableJWTAuthentication"
