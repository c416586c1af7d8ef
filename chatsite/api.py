"""REST error shape: every error is JSON. Service errors carry a stable `code`."""

import logging
from typing import Any

from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from messaging.errors import ChatError, RateLimited

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Throttled):
        exc = RateLimited("Too many requests; retry later.", retry_after=exc.wait or 1)
    if isinstance(exc, ChatError):
        response = Response(exc.as_dict(), status=exc.status)
        if isinstance(exc, RateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DatabaseError):
        logger.exception("database error in %s", context.get("view"))
        return Response(
            {
                "code": "unavailable",
                "detail": "The database is unavailable; retry later.",
                "field": None,
            },
            status=503,
        )
    return drf_exception_handler(exc, context)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """JSON for API paths; the ordinary page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": "No such endpoint."}, status=404)
    return defaults.page_not_found(request, exception or Http404())


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"code": "server_error", "detail": "The server failed."}, status=500)
