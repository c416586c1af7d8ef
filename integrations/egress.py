"""Where outgoing webhooks and slash commands may POST: public addresses only, checked at the
moment of connecting (chatsite/outbound.py's guarded session, so DNS rebinding cannot redirect
a delivery), on any port, http or https. PARLEY_WEBHOOK_ALLOWED_HOSTS lists internal hosts
(names, addresses or networks) that are allowed anyway: an intranet CI server, or 127.0.0.1
in tests."""

import ipaddress
from urllib.parse import urlsplit

import requests
from django.conf import settings

from chatsite.outbound import AddressRefused, guarded_session, is_public, resolve

EndpointRefused = AddressRefused  # the URL is not http(s), or not a public or allowed host

__all__ = ["EndpointRefused", "check_webhook_url", "webhook_addresses", "webhook_session"]


def _allowed() -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    names, networks = set(), []
    for entry in settings.PARLEY_WEBHOOK_ALLOWED_HOSTS:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return names, networks


def webhook_addresses(host: str, port: int) -> list[str]:
    """The addresses to connect to for host:port; refuses unless each is public or allowed."""
    names, networks = _allowed()
    addresses = resolve(host, port)
    if not addresses:
        raise EndpointRefused(f"the host {host!r} does not resolve")
    if host.lower().rstrip(".") in names:
        return addresses
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if not is_public(ip) and not any(ip in network for network in networks):
            raise EndpointRefused(f"the host {host!r} resolves to {address}, not a public address")
    return addresses


def check_webhook_url(url: str) -> None:
    """Refuses a URL that is not http(s)://<public or allowed host>[:port]/..., resolving its
    host now (each delivery checks again: DNS can change)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise EndpointRefused("the URL is not valid") from error
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise EndpointRefused("the URL must be http or https with a host")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("the URL must not carry credentials")
    webhook_addresses(parts.hostname, port)


def webhook_session() -> requests.Session:
    return guarded_session(policy=webhook_addresses)
