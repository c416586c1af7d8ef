"""A strict Content-Security-Policy for the pages Parley serves.

The browser UI loads only its own static ES modules and stylesheet: no inline script, no
inline style, no third-party origin. The WebSocket is the page's own host (ws: or wss:).
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def content_security_policy(request: HttpRequest) -> str:
    host = request.get_host()
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            # 'self' covers fetch; the socket is named with both schemes because older browsers
            # do not let 'self' match ws:/wss:.
            f"connect-src 'self' ws://{host} wss://{host}",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ]
    )


class ContentSecurityPolicyMiddleware:
    """Adds the policy to every response except paths in PARLEY_CSP_EXEMPT_PATHS (third-party
    pages with inline script, such as the admin and the Swagger UI)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" in response:
            return response
        if any(request.path.startswith(p) for p in settings.PARLEY_CSP_EXEMPT_PATHS):
            return response
        response["Content-Security-Policy"] = content_security_policy(request)
        return response
