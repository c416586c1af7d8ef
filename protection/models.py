"""IP blacklist and whitelist entries: one address or one network (CIDR), IPv4 or IPv6."""

import ipaddress

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


def parse_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """`10.0.0.7`, `10.0.0.0/8`, `2001:db8::/32`; host bits must be zero in a network."""
    text = (value or "").strip()
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ValidationError(f"{text!r} is not an IP address or network: {exc}") from exc


def validate_network(value: str) -> None:
    parse_network(value)


class AddressEntry(models.Model):
    network = models.CharField(
        max_length=64,
        unique=True,
        validators=[validate_network],
        help_text="One address (10.0.0.7, 2001:db8::1) or a network in CIDR (10.0.0.0/8).",
    )
    reason = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: never. After this time the entry stops applying."
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["network"]

    def __str__(self) -> str:
        return self.network

    def clean(self) -> None:
        # Store the canonical form so `10.0.0.7` and `10.0.0.7/32` are one entry.
        self.network = str(parse_network(self.network))

    @property
    def active(self) -> bool:
        return self.expires_at is None or self.expires_at > timezone.now()


class BlacklistEntry(AddressEntry):
    """Requests and sockets from these addresses are refused (HTTP 403, handshake refused)."""

    class Meta(AddressEntry.Meta):
        verbose_name = "blacklisted address"
        verbose_name_plural = "blacklisted addresses"


class WhitelistEntry(AddressEntry):
    """These addresses are exempt from rate limits (the blacklist still applies)."""

    class Meta(AddressEntry.Meta):
        verbose_name = "whitelisted address"
        verbose_name_plural = "whitelisted addresses"
