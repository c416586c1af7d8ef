from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from messaging.errors import BadRequest

from .models import User


def user_register(*, username: str, password: str) -> User:
    """Creates an active user with a validated password; the caller has checked the username."""
    candidate = User(username=username)
    validate_password(password, user=candidate)
    with transaction.atomic():
        candidate.set_password(password)
        candidate.save()
    return candidate


def refresh_token_revoke(*, refresh: str) -> None:
    """Blacklists a valid refresh token: it can never mint an access token again."""
    try:
        RefreshToken(refresh).blacklist()
    except TokenError as exc:
        raise BadRequest(
            "the refresh token is invalid, expired or already revoked", field="refresh"
        ) from exc
