"""Outbound HTTP to addresses that users choose (Web Push endpoints, links in messages): only to
public addresses the caller's policy allows.

A URL from a user must not make the server connect into its own network (SSRF: Redis on
127.0.0.1:6379, a cloud metadata service on 169.254.169.254, an intranet host). A guarded session
resolves each host itself at the moment of connecting, asks the policy which of those addresses
are allowed (refusing all if any is not), and connects to the very address it checked, so a name
that resolves differently a moment later (DNS rebinding) cannot redirect the request. Redirects
are checked the same way (each hop is a new connection). Proxies from the environment are
ignored: through a proxy the address reached would be the proxy's choice.
"""

import ipaddress
import socket
import sys
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 ranges that carry an IPv4 address in their last 32 bits: the IPv4-compatible (deprecated)
# range and NAT64's well-known and local-use prefixes.
_V4_IN_LAST_32 = (
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)


class AddressRefused(Exception):
    """The URL or address is not one Parley connects to."""


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
        raise AddressRefused(f"the host {host!r} does not resolve") from error
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def public_addresses(host: str, port: int) -> list[str]:
    """The host's addresses; refuses unless there is one and every one is public (so which one
    a connection picks does not matter)."""
    addresses = resolve(host, port)
    if not addresses:
        raise AddressRefused(f"the host {host!r} does not resolve")
    for address in addresses:
        if not is_public(ipaddress.ip_address(address)):
            raise AddressRefused(f"the host {host!r} resolves to {address}, not a public address")
    return addresses


# (host, port) -> the addresses a connection may use; raises to refuse.
AddressPolicy = Callable[[str, int], list[str]]


class _CheckedConnect:
    """Connects only to addresses its policy returned, at the moment of connecting; `host`
    stays the name, for SNI, the certificate check and the Host header."""

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    policy: AddressPolicy
    refuse_plain_http: Callable[[], None] | None = None

    def _new_conn(self) -> socket.socket:
        if self.refuse_plain_http is not None:
            self.refuse_plain_http()
        addresses = self.policy(self.host, self.port)
        last_error: Exception = AddressRefused(f"the host {self.host!r} does not resolve")
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


def guarded_session(
    *, policy: AddressPolicy, refuse_plain_http: Callable[[], None] | None = None
) -> requests.Session:
    """A requests session whose every connection (redirects included) goes only to an address
    `policy` allowed; `refuse_plain_http`, when given, is called before each http:// connection
    (it raises to refuse). It ignores HTTP(S)_PROXY."""
    https_connection = type(
        "CheckedHTTPSConnection",
        (_CheckedConnect, HTTPSConnection),
        {"policy": staticmethod(policy)},
    )
    http_connection = type(
        "CheckedHTTPConnection",
        (_CheckedConnect, HTTPConnection),
        {
            "policy": staticmethod(policy),
            "refuse_plain_http": staticmethod(refuse_plain_http) if refuse_plain_http else None,
        },
    )
    https_pool = type(
        "CheckedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection}
    )
    http_pool = type("CheckedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_connection})

    class CheckedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}

    session = requests.Session()
    session.trust_env = False
    adapter = CheckedAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
