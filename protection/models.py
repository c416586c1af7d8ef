"""IP blacklist and whitelist entries: one address or one network (CIDR), IPv4 or IPv6, and
the version of the two lists that every process compares with its copy."""

import ipaddress

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
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


class AddressListsVersion(models.Model):
    """One row, bumped in the transaction of every change to either list.

    The database is the one store every process of every configuration shares (the embedded
    default's cache is per process), so a process that reads this row knows its copy is stale
    whoever made the change: the admin, `manage.py blacklist` or another server.
    """

    ROW = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=ROW)
    version = models.PositiveBigIntegerField(default=0)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "IP lists version"

    def __str__(self) -> str:
        return f"version {self.version}"

    @classmethod
    def current(cls) -> int:
        """The version now (0 before the first change)."""
        return cls.objects.filter(pk=cls.ROW).values_list("version", flat=True).first() or 0

    @classmethod
    def bump(cls) -> None:
        """One more version; call it inside the transaction that changes a list."""
        changes = {"version": F("version") + 1, "changed_at": timezone.now()}
        if not cls.objects.filter(pk=cls.ROW).update(**changes):
            cls.objects.get_or_create(pk=cls.ROW)  # the first change (or the row was deleted)
            cls.objects.filter(pk=cls.ROW).update(**changes)
