"""HTTP side of protection: blacklisted addresses get 403 everywhere; admin logins are limited."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from messaging.errors import RateLimited

from . import limits
from .addresses import http_client_ip
from .rules import address_lists

LIVENESS_PATH = "/healthz"


def _error(request: HttpRequest, status: int, body: dict) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(body, status=status)
    return HttpResponse(body["detail"], status=status, content_type="text/plain; charset=utf-8")


class AddressGuardMiddleware:
    """Sets request.client_ip; refuses blacklisted addresses before anything else runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ip = http_client_ip(request.META)
        request.client_ip = ip  # type: ignore[attr-defined]
        if request.path == LIVENESS_PATH:
            # The liveness probe touches nothing (no cache, no database), whoever asks.
            return self.get_response(request)
        lists = address_lists()
        if lists.blacklisted(ip):
            return _error(
                request,
                403,
                {"code": "blacklisted", "detail": "Your address is blocked.", "field": None},
            )
        # The admin login form is a login like POST /api/auth/token/ (whose limit is a throttle).
        if (
            request.method == "POST"
            and request.path == reverse("admin:login")
            and not lists.whitelisted(ip)
        ):
            try:
                limits.rate_check("login", ip)
            except RateLimited as exc:
                response = _error(request, 429, exc.as_dict())
                response["Retry-After"] = str(exc.retry_after)
                return response
        return self.get_response(request)
