from typing import Any

from django.http import HttpRequest

from .services import session_sockets_close, web_session_id


def browser_logged_out(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """A browser session logged out (Django's logout, before the session is flushed): its
    sockets close with 4401."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        session_sockets_close(session_id=web_session_id(session_key))
