"""HTTP side of protection: blacklisted addresses get 403 everywhere; a RateLimited raised by a
Django view (the admin login, through accounts.backends) is a 429 with Retry-After."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from core.errors import RateLimited

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
        if address_lists().blacklisted(ip):
            return _error(
                request,
                403,
                {"code": "blacklisted", "detail": "Your address is blocked.", "field": None},
            )
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # The browser's own forms render their refusal themselves (web/views.py); this answers
        # for the views Parley does not own, such as the admin login.
        if not isinstance(exception, RateLimited):
            return None
        response = _error(request, 429, exception.as_dict())
        response["Retry-After"] = str(exception.retry_after)
        return response
