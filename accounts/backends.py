"""The one authentication backend: every way in (the token API, the browser's login form, the
admin login) calls django.contrib.auth.authenticate, which comes here."""

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from protection.addresses import http_client_ip
from protection.services import login_attempt_check, login_failures_forget

from .models import User
from .selectors import user_for_login


class UsernameBackend(ModelBackend):
    """Checks the per-address and per-account login limits (RateLimited when spent), then the
    password of the account named in any case; a success forgets the account's failures."""

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        ip = None
        if request is not None:
            ip = getattr(request, "client_ip", None) or http_client_ip(request.META)
        login_attempt_check(ip=ip, username=username)
        user = user_for_login(username=username)
        if user is None:
            # Hash anyway, so an unknown name takes as long as a wrong password (ModelBackend).
            User().set_password(password)
            return None
        # A bot (integrations.models.Bot) signs in only with its API token, never a password.
        if (
            user.check_password(password)
            and self.user_can_authenticate(user)
            and not hasattr(user, "bot")
        ):
            login_failures_forget(username=username)
            return user
        return None
