"""DRF throttles backed by the token buckets (limits.py); whitelisted addresses are exempt."""

from typing import Any

from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from . import limits
from .addresses import http_client_ip
from .rules import address_lists
from .services import registration_attempt_check


def request_ip(request: Request) -> str:
    return getattr(request._request, "client_ip", None) or http_client_ip(request.META)


class BucketThrottle(BaseThrottle):
    limit = ""

    def key(self, request: Request, ip: str) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        ip = request_ip(request)
        key = self.key(request, ip)
        if key is None or address_lists().whitelisted(ip):
            return True
        verdict = limits.take(self.limit, key)
        self.retry_after = verdict.retry_after
        return verdict.allowed

    def wait(self) -> float:
        return self.retry_after


class RestWriteThrottle(BucketThrottle):
    """Writes (non-safe methods) per user, or per IP when anonymous."""

    limit = "rest_write"

    def key(self, request: Request, ip: str) -> str | None:
        if request.method in SAFE_METHODS:
            return None
        if request.user and request.user.is_authenticated:
            return f"user.{request.user.pk}"
        return f"ip.{ip}"


class LoginThrottle(BucketThrottle):
    """Every password check, successful or not, per IP: slows password guessing. (Logins are
    limited in the authentication backend, accounts.backends, which every way in goes through;
    this throttle is for other views that check a password, such as the password change.)"""

    limit = "login"

    def key(self, request: Request, ip: str) -> str | None:
        return None if request.method in SAFE_METHODS else ip


class RegisterThrottle(BaseThrottle):
    """Account creation per IP, the check the browser's form makes too
    (protection.services.registration_attempt_check); over it, RateLimited (429)."""

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method not in SAFE_METHODS:
            registration_attempt_check(ip=request_ip(request))
        return True
