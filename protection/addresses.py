"""The client's IP address: the connection's peer, or X-Forwarded-For behind trusted proxies.

X-Forwarded-For is believed only when the direct peer is in PARLEY_TRUSTED_PROXIES; then the
header is read from the right and the first address that is not itself a trusted proxy is the
client. Anyone can write the header, so without that rule it would let a client pick its own
address and step around the blacklist and the per-IP limits.
"""

import functools
import ipaddress

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "0.0.0.0"  # noqa: S104 (a peer without an address, e.g. a Unix socket; not a bind)


@functools.cache
def _trusted(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def parse_ip(text: str | None) -> IPAddress | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    # An IPv4-mapped IPv6 peer (::ffff:10.0.0.7) is the IPv4 client it carries.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted_proxy(address: IPAddress) -> bool:
    return any(address in net for net in _trusted(tuple(settings.PARLEY_TRUSTED_PROXIES)))


def client_ip(peer: str | None, forwarded_for: str | None) -> str:
    """The client address as text (canonical form), UNKNOWN when the peer has none."""
    address = parse_ip(peer)
    if address is None:
        return UNKNOWN
    if forwarded_for and is_trusted_proxy(address):
        for hop in reversed(forwarded_for.split(",")):
            hop_address = parse_ip(hop)
            if hop_address is None:
                break  # garbage in the chain: keep the last address we could trust
            address = hop_address
            if not is_trusted_proxy(hop_address):
                break
    return str(address)


# Headers a proxy adds to say whom it forwards for (WSGI/ASGI META names).
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def came_through_proxy(meta: dict) -> bool:
    """The request carries a forwarding header, or its peer is a trusted proxy.

    Then the peer address says nothing about where the request came from: a reverse proxy on
    the same host makes every client look like loopback.
    """
    if any(meta.get(header) for header in FORWARDING_HEADERS):
        return True
    peer = parse_ip(meta.get("REMOTE_ADDR"))
    return peer is not None and is_trusted_proxy(peer)


def http_client_ip(meta: dict) -> str:
    return client_ip(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR"))


def scope_client_ip(scope: dict) -> str:
    peer = scope.get("client")
    forwarded = None
    for key, value in scope.get("headers", []):
        if key.lower() == b"x-forwarded-for":
            forwarded = value.decode("latin-1")
    return client_ip(peer[0] if peer else None, forwarded)
