"""Where Web Push may be sent: public addresses on port 443 only.

A push subscription's endpoint comes from a browser, that is from any user, so the server must
not be made to POST into its own network (SSRF: Redis on 127.0.0.1:6379, a cloud metadata
service on 169.254.169.254, an intranet host). The endpoint is checked when it is registered
and again at every connection: the HTTP session of the Web Push backend resolves the host
itself, refuses if any address is not public, and connects to the very address it checked, so a
name that resolves differently a moment later (DNS rebinding) cannot redirect the POST.
Redirects are checked the same way (each hop is a new connection). The address checks and the
guarded session are shared with link previews (chatsite/outbound.py).

PARLEY_PUSH_ALLOW_PRIVATE_ENDPOINTS lifts the address and port checks (and at send time the https
one), for tests and development with a push service on this machine only.
"""

from urllib.parse import urlsplit

import requests
from django.conf import settings

from chatsite.outbound import AddressRefused, guarded_session, is_public, public_addresses, resolve

PUSH_PORT = 443

EndpointRefused = AddressRefused  # the endpoint is not https, not port 443, or not public

__all__ = ["EndpointRefused", "check_endpoint", "checked_addresses", "is_public", "push_session"]


def allow_private() -> bool:
    return bool(settings.PARLEY_PUSH_ALLOW_PRIVATE_ENDPOINTS)


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses to connect to for host:port; refuses unless every one is public and the
    port is 443 (so which one the connection picks does not matter)."""
    if allow_private():
        return resolve(host, port)
    if port != PUSH_PORT:
        raise EndpointRefused(f"push endpoints must use port {PUSH_PORT}, not {port}")
    return public_addresses(host, port)


def check_endpoint(url: str) -> None:
    """Refuses an endpoint URL that is not https://<public host>[:443]/..., resolving its host
    now (the send checks again: DNS can change)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise EndpointRefused("the endpoint is not a valid URL") from error
    if parts.scheme != "https" or not parts.hostname:
        raise EndpointRefused("the endpoint must be an https URL with a host")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("the endpoint must not carry credentials")
    if allow_private():
        return
    checked_addresses(parts.hostname, port or PUSH_PORT)


def _refuse_plain_http() -> None:
    if not allow_private():
        raise EndpointRefused("push endpoints must use https")


def push_session() -> requests.Session:
    """A requests session whose every connection (redirects included) goes only to a checked
    public address on port 443. It ignores HTTP(S)_PROXY: through a proxy the address actually
    reached would be the proxy's choice, not one checked here."""
    return guarded_session(policy=checked_addresses, refuse_plain_http=_refuse_plain_http)
