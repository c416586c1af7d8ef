import hashlib
import uuid
from functools import partial

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

import realtime
from core.close_codes import Close
from core.errors import BadRequest

from .models import User
from .selectors import GENERATION_CLAIM, SESSION_CLAIM, session_ended_key
from .usernames import TAKEN_MESSAGE, username_normalize

# Sockets whose credentials stopped being valid close with Close.UNAUTHORIZED (4401), the
# protocol's "not authenticated": the client refreshes its token (or logs in again) and reconnects.


def user_register(*, username: str, password: str, email: str = "") -> User:
    """Creates an active user with a validated password under the NFKC form of a name the caller
    has checked against the policy; a name taken in any case, even by a registration racing this
    one, is a BadRequest on `username` (the database's unique index decides), an address taken
    in any case one on `email`. A given address gets a verification link after commit."""
    from .recovery import EMAIL_TAKEN, email_in_use, email_normalize, email_verification_send

    candidate = User(username=username_normalize(username))
    if email.strip():
        candidate.email = email_normalize(email)
    validate_password(password, user=candidate)
    try:
        with transaction.atomic():
            candidate.set_password(password)
            candidate.save()
            email_verification_send(user=candidate)
    except IntegrityError as exc:
        if candidate.email and email_in_use(email=candidate.email):
            raise BadRequest(EMAIL_TAKEN, field="email") from exc
        raise BadRequest(TAKEN_MESSAGE, field="username") from exc
    return candidate


def session_tokens_issue(*, user: User) -> RefreshToken:
    """A refresh token starting a new login session (its `sid` claim, kept through rotation
    and copied into every access token, names the session for logout)."""
    refresh = RefreshToken.for_user(user)
    refresh[SESSION_CLAIM] = uuid.uuid4().hex
    refresh[GENERATION_CLAIM] = user.token_generation
    # for_user recorded the token before these claims: record the one handed out, so the
    # session list (accounts/sessions.py) can read its session from it.
    OutstandingToken.objects.filter(jti=refresh[api_settings.JTI_CLAIM]).update(token=str(refresh))
    return refresh


def web_session_id(session_key: str) -> str:
    """The login-session id of a browser session: a digest, so the key never leaves Django."""
    return hashlib.sha256(f"web:{session_key}".encode()).hexdigest()[:32]


def session_end(*, refresh: str) -> None:
    """Logs one login session out: its refresh token is blacklisted, its access tokens are
    refused from now on and its sockets are closed with 4401."""
    try:
        token = RefreshToken(refresh)
        token.blacklist()
    except TokenError as exc:
        raise BadRequest(
            "the refresh token is invalid, expired or already revoked", field="refresh"
        ) from exc
    session_id = token.get(SESSION_CLAIM)
    if session_id:
        session_sockets_close(session_id=str(session_id))


def session_sockets_close(*, session_id: str) -> None:
    """Refuses the session's access tokens for as long as they could live, and closes its
    sockets (4401) on every server process."""
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()
    cache.set(session_ended_key(session_id), 1, timeout=int(lifetime) + 60)
    realtime.close_session_sockets(session_id, Close.UNAUTHORIZED)


def user_tokens_revoke(*, user: User) -> None:
    """Every token of the user issued until now is refused (refresh tokens blacklisted, access
    tokens by their older generation) and every socket of theirs closes with 4401, after
    commit."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(token_generation=F("token_generation") + 1)
        user.refresh_from_db(fields=["token_generation"])
        outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
        BlacklistedToken.objects.bulk_create(
            [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
        )
        transaction.on_commit(
            partial(realtime.close_user_sockets, user.pk, Close.UNAUTHORIZED), robust=True
        )


def user_password_change(*, user: User, old_password: str, new_password: str) -> RefreshToken:
    """Sets a new, validated password after checking the old one; every earlier token and
    socket of the user is revoked; returns the caller's new login session."""
    if not user.check_password(old_password):
        raise BadRequest("the current password is wrong", field="old_password")
    try:
        validate_password(new_password, user=user)
    except DjangoValidationError as exc:
        raise BadRequest(" ".join(exc.messages), field="new_password") from exc
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        user_tokens_revoke(user=user)
    return session_tokens_issue(user=user)
