"""Matching an address against the lists' snapshot."""

import ipaddress
from datetime import timedelta

import pytest
from django.utils import timezone

from protection.rules import AddressLists, Rule


def lists(*entries: tuple[str, timedelta | None]) -> AddressLists:
    now = timezone.now()
    rules = tuple(
        Rule(ipaddress.ip_network(network), None if ttl is None else now + ttl)
        for network, ttl in entries
    )
    return AddressLists("t", rules, ())


@pytest.mark.parametrize(
    ("ip", "blocked"),
    [
        ("10.1.2.3", True),  # in 10.0.0.0/8
        ("11.0.0.1", False),
        ("192.0.2.7", True),  # the single address
        ("192.0.2.8", False),
        ("2001:db8:1::1", True),  # in 2001:db8::/32
        ("2001:db9::1", False),
        ("::ffff:10.0.0.1", True),  # IPv4-mapped: the IPv4 address
        ("198.51.100.1", False),  # its entry expired
        ("0.0.0.0", False),  # noqa: S104 (an address, not a bind)
        ("garbage", False),
    ],
)
def test_addresses_match_networks_of_any_length_and_version(ip, blocked):
    snapshot = lists(
        ("10.0.0.0/8", None),
        ("192.0.2.7/32", timedelta(hours=1)),
        ("2001:db8::/32", None),
        ("198.51.100.0/24", timedelta(seconds=-1)),
    )
    assert snapshot.blacklisted(ip) is blocked
    assert snapshot.whitelisted(ip) is False


def test_a_thousand_entries_are_all_found():
    snapshot = lists(*[(f"10.{n // 256}.{n % 256}.0/24", None) for n in range(1000)])
    assert all(snapshot.blacklisted(f"10.{n // 256}.{n % 256}.99") for n in range(1000))
    assert not snapshot.blacklisted("10.200.0.1")
