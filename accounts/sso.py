"""Single sign-on with any OpenID Connect provider (mozilla-django-oidc): authorization code
flow with PKCE, state and nonce checked by the library. Users are matched by a verified email
address, or created when PARLEY_OIDC_CREATE_USERS allows. The browser gets a Django session;
API clients keep using JWTs (they log in with a password, or in the browser)."""

import secrets
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from protection.addresses import http_client_ip
from protection.services import login_attempt_check, login_failures_forget

from .models import User
from .usernames import username_normalize, username_policy_errors


def sso_enabled() -> bool:
    return bool(settings.PARLEY_OIDC_ENABLED)


class OIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, inert while SSO is not configured (every login asks
    every backend), counting each SSO login like any other (per address and per account)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if sso_enabled():
            super().__init__(*args, **kwargs)

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:  # type: ignore[override]
        if not sso_enabled() or request is None or "nonce" not in kwargs:
            return None
        user = super().authenticate(request, **kwargs)
        if user is not None:
            ip = getattr(request, "client_ip", None) or http_client_ip(request.META)
            login_attempt_check(ip=ip, username=user.username)
            login_failures_forget(username=user.username)
        return user

    def verify_claims(self, claims: dict) -> bool:
        return bool(claims.get("sub"))

    def filter_users_by_claims(self, claims: dict):  # type: ignore[no-untyped-def]
        """The account with the provider's address, only if the provider verified it: an
        unverified address must not take over the account that owns it (account takeover)."""
        email = (claims.get("email") or "").strip()
        if not email or claims.get("email_verified") is not True:
            return User.objects.none()
        # Only a confirmed address on Parley's side too: someone who registered the victim's
        # address unconfirmed must not receive the victim's SSO login (pre-hijacking).
        return User.objects.filter(email__iexact=email, email_verified=True, is_active=True)

    def create_user(self, claims: dict) -> User | None:  # type: ignore[override]
        if not settings.PARLEY_OIDC_CREATE_USERS:
            return None
        email = (claims.get("email") or "").strip()
        verified = claims.get("email_verified") is True
        base = username_normalize(str(claims.get("preferred_username") or "").split("@")[0])
        if username_policy_errors(base):
            base = "user"
        for attempt in range(20):
            name = base if attempt == 0 else f"{base[:140]}{secrets.randbelow(10**6)}"
            if username_policy_errors(name) or User.objects.filter(username__iexact=name).exists():
                continue
            free = bool(email) and verified
            free = free and not User.objects.filter(email__iexact=email).exists()
            user = User(
                username=name,
                email=email if free else "",
                email_verified=free,
                display_name=str(claims.get("name") or "")[:64],
            )
            user.set_unusable_password()
            try:
                with transaction.atomic():
                    user.save()
            except IntegrityError:
                continue
            return user
        return None

    def update_user(self, user: User, claims: dict) -> User:
        return user


class SSOStart(OIDCAuthenticationRequestView):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if sso_enabled():
            super().__init__(*args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404
        return super().get(request)


class SSOCallback(OIDCAuthenticationCallbackView):
    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404
        return super().get(request)
