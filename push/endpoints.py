"""Where Web Push may be sent: public addresses on port 443 only.

A push subscription's endpoint comes from a browser, that is from any user, so the server must
not be made to POST into its own network (SSRF: Redis on 127.0.0.1:6379, a cloud metadata
service on 169.254.169.254, an intranet host). The endpoint is checked when it is registered
and again at every connection: the HTTP session of the Web Push backend resolves the host
itself, refuses if any address is not public, and connects to the very address it checked, so a
name that resolves differently a moment later (DNS rebinding) cannot redirect the POST.
Redirects are checked the same way (each hop is a new connection).

PARLEY_PUSH_ALLOW_PRIVATE_ENDPOINTS lifts the address and port checks (and at send time the https
one), for tests and development with a push service on this machine only.
"""

import ipaddress
import socket
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

PUSH_PORT = 443

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 ranges that carry an IPv4 address in their last 32 bits: the IPv4-compatible (deprecated)
# range and NAT64's well-known and local-use prefixes.
_V4_IN_LAST_32 = (
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)


class EndpointRefused(Exception):
    """The endpoint is not one Parley sends to (not https, not port 443, or not public)."""


def allow_private() -> bool:
    return bool(settings.PARLEY_PUSH_ALLOW_PRIVATE_ENDPOINTS)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in _V4_IN_LAST_32):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not private, loopback, link-local, multicast, shared (CGNAT),
    reserved, documentation or unspecified; an IPv6 address carrying an IPv4 one (mapped,
    6to4, Teredo, NAT64, IPv4-compatible) is judged by that IPv4 address too."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return embedded.is_global and not embedded.is_multicast
    return True


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses (an IP literal is its own), by the system resolver."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise EndpointRefused(f"the host {host!r} does not resolve") from error
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses to connect to for host:port; refuses unless every one is public and the
    port is 443 (so which one the connection picks does not matter)."""
    if allow_private():
        return resolve(host, port)
    if port != PUSH_PORT:
        raise EndpointRefused(f"push endpoints must use port {PUSH_PORT}, not {port}")
    addresses = resolve(host, port)
    if not addresses:
        raise EndpointRefused(f"the host {host!r} does not resolve")
    for address in addresses:
        if not is_public(ipaddress.ip_address(address)):
            raise EndpointRefused(f"the host {host!r} resolves to {address}, not a public address")
    return addresses


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


class _CheckedConnect:
    """Connects only to addresses checked by `addresses` (checked_addresses for Web Push), at the
    moment of connecting; `host` stays the name, for SNI, the certificate check and the Host
    header."""

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    addresses: Callable[[str, int], list[str]] = staticmethod(checked_addresses)
    http_allowed: Callable[[], bool] = staticmethod(allow_private)

    def _new_conn(self) -> socket.socket:
        addresses = self.addresses(self.host, self.port)
        last_error: Exception = EndpointRefused(f"the host {self.host!r} does not resolve")
        for address in addresses:
            try:
                sock = create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as error:
                last_error = ConnectTimeoutError(
                    self, f"Connection to {self.host} ({address}) timed out."
                )
                last_error.__cause__ = error
            except OSError as error:
                last_error = NewConnectionError(
                    self, f"Failed to establish a new connection to {address}: {error}"
                )
                last_error.__cause__ = error
            else:
                sys.audit("http.client.connect", self, self.host, self.port)
                return sock
        raise last_error


class _CheckedHTTPSConnection(_CheckedConnect, HTTPSConnection):
    pass


class _CheckedHTTPConnection(_CheckedConnect, HTTPConnection):
    def _new_conn(self) -> socket.socket:
        if not self.http_allowed():
            raise EndpointRefused("push endpoints must use https")
        return super()._new_conn()


def checked_session(
    addresses: Callable[[str, int], list[str]] = checked_addresses,
    *,
    http_allowed: Callable[[], bool] = allow_private,
) -> requests.Session:
    """A requests session whose every connection (redirects included) goes only to an address
    `addresses(host, port)` returns at the moment of connecting (it raises EndpointRefused to
    refuse); plain http only when `http_allowed()`. It ignores HTTP(S)_PROXY: through a proxy
    the address actually reached would be the proxy's choice, not one checked here. Other
    senders (outgoing webhooks) pass their own rules; Web Push uses push_session()."""
    policy = {"addresses": staticmethod(addresses), "http_allowed": staticmethod(http_allowed)}
    https_connection = type("CheckedHTTPSConnection", (_CheckedHTTPSConnection,), policy)
    http_connection = type("CheckedHTTPConnection", (_CheckedHTTPConnection,), policy)
    https_pool = type(
        "CheckedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection}
    )
    http_pool = type("CheckedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_connection})

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}

    session = requests.Session()
    session.trust_env = False
    adapter = Adapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def push_session() -> requests.Session:
    """A requests session whose every connection (redirects included) goes only to a checked
    public address on port 443 (checked_session with the Web Push rules)."""
    return checked_session(checked_addresses, http_allowed=allow_private)
