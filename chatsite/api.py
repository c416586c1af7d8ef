"""REST error shape: every error is JSON. Service errors carry a stable `code`."""

import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework.exceptions import APIException, Throttled, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import SERVER_ERROR, RateLimited, wire_error

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Throttled):
        exc = RateLimited("Too many requests; retry later.", retry_after=exc.wait or 1)
    wire = wire_error(exc)
    if wire is not None:  # the same mapping as the gateway's error frames (core/errors.py)
        if wire.unexpected:
            logger.exception("%s in %s", type(exc).__name__, context.get("view"))
        return Response(wire.body, status=wire.status, headers=wire.headers)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, APIException):
        response.data = _error_shape(exc, response.data)
    return response


def _first_message(errors: Any) -> tuple[str | None, str]:
    """The first (field, message) in DRF's nested error detail; field None when not a field's."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            _, message = _first_message(value)
            return (None if key == "non_field_errors" else str(key)), message
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return None, str(errors)


def _error_shape(exc: APIException, data: Any) -> dict[str, Any]:
    """DRF's own errors in the shape of every other error: code, detail, field.

    Validation errors keep DRF's per-field lists beside them (`{"password": [...]}`), so a form
    can show every message; the top-level `detail` is the first one.
    """
    if isinstance(exc, ValidationError):
        field, message = _first_message(data)
        extra = data if isinstance(data, dict) else {"errors": data}
        return {**extra, "code": "bad_request", "detail": message, "field": field}
    if not isinstance(data, dict):
        data = {"detail": data}
    code = data.get("code") or exc.default_code
    return {**data, "code": str(code), "detail": str(data.get("detail", "")), "field": None}


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """JSON for API paths; the ordinary page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"code": "not_found", "detail": "No such endpoint.", "field": None}, status=404
        )
    return defaults.page_not_found(request, exception or Http404())


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(SERVER_ERROR.body, status=SERVER_ERROR.status)
