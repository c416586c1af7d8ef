"""Which address is the client: the peer, or X-Forwarded-For only from trusted proxies."""

import pytest

from protection.addresses import UNKNOWN, client_ip


def test_the_peer_is_the_client_when_no_proxy_is_trusted(settings):
    settings.PARLEY_TRUSTED_PROXIES = []
    assert client_ip("203.0.113.5", "198.51.100.1") == "203.0.113.5"


def test_forwarded_for_is_read_from_a_trusted_proxy(settings):
    settings.PARLEY_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip("10.0.0.2", "198.51.100.1") == "198.51.100.1"
    # A client that writes its own header cannot pick its address: the rightmost untrusted hop
    # (the one the proxy saw) wins.
    assert client_ip("10.0.0.2", "1.2.3.4, 198.51.100.1") == "198.51.100.1"
    assert client_ip("10.0.0.2", "198.51.100.1, 10.0.0.9") == "198.51.100.1"


def test_forwarded_for_from_an_untrusted_peer_is_ignored(settings):
    settings.PARLEY_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip("203.0.113.5", "10.0.0.3") == "203.0.113.5"


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("2001:DB8::1", "2001:db8::1"),
        (None, UNKNOWN),
        ("not-an-ip", UNKNOWN),
    ],
)
def test_addresses_are_canonical(settings, peer, expected):
    settings.PARLEY_TRUSTED_PROXIES = []
    assert client_ip(peer, None) == expected


def test_garbage_in_forwarded_for_falls_back_to_the_proxy(settings):
    settings.PARLEY_TRUSTED_PROXIES = ["10.0.0.1"]
    assert client_ip("10.0.0.1", "<script>") == "10.0.0.1"
