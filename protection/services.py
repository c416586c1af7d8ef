"""Adding and removing blacklist and whitelist entries; the limits on logins and registrations.

Every change bumps the shared version stamp (rules.change_recorded: in the change's transaction,
and in the cache after commit), so all processes reload their snapshot within
PARLEY_IP_LISTS_REFRESH seconds, whichever process made the change (a management command too);
a new blacklist entry also closes the live sockets from that address on every process: at once
through the channel layer where it reaches them (Redis), else when each server process's
watcher (gateway.protection) sees the new stamp.
"""

import hashlib
import math
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

import realtime
from accounts.models import User
from accounts.usernames import username_key
from core.errors import BadRequest, NotFound, RateLimited

from . import limits, rules
from .models import AddressEntry, BlacklistEntry, WhitelistEntry, parse_network


def _canonical(network: str) -> str:
    try:
        return str(parse_network(network))
    except ValidationError as exc:
        raise BadRequest(exc.messages[0], field="network") from exc


def _entry_put(
    model: type[AddressEntry],
    *,
    network: str,
    reason: str,
    expires_at: datetime | None,
    added_by: User | None,
) -> tuple[AddressEntry, bool]:
    canonical = _canonical(network)
    if expires_at is not None and expires_at <= timezone.now():
        raise BadRequest("the expiry is in the past", field="expires_at")
    if len(reason) > 200:
        raise BadRequest("the reason is longer than 200 characters", field="reason")
    with transaction.atomic():
        entry, created = model.objects.update_or_create(
            network=canonical,
            defaults={"reason": reason, "expires_at": expires_at, "added_by": added_by},
        )
        rules.change_recorded()
    return entry, created


def _entry_remove(model: type[AddressEntry], *, network: str) -> None:
    canonical = _canonical(network)
    with transaction.atomic():
        deleted, _ = model.objects.filter(network=canonical).delete()
        if not deleted:
            raise NotFound(f"{canonical} is not on the {model._meta.verbose_name_plural} list")
        rules.change_recorded()


def blacklist_add(
    *,
    network: str,
    reason: str = "",
    expires_at: datetime | None = None,
    added_by: User | None = None,
) -> tuple[BlacklistEntry, bool]:
    """Blocks an address or network (re-adding updates it); its live sockets close everywhere."""
    entry, created = _entry_put(
        BlacklistEntry, network=network, reason=reason, expires_at=expires_at, added_by=added_by
    )
    transaction.on_commit(lambda: realtime.close_address_sockets([entry.network]))
    return entry, created  # type: ignore[return-value]


def blacklist_remove(*, network: str) -> None:
    """Unblocks exactly this entry (an address inside a blocked network stays blocked)."""
    _entry_remove(BlacklistEntry, network=network)


def whitelist_add(
    *,
    network: str,
    reason: str = "",
    expires_at: datetime | None = None,
    added_by: User | None = None,
) -> tuple[WhitelistEntry, bool]:
    """Exempts an address or network from rate limits (re-adding updates it)."""
    entry, created = _entry_put(
        WhitelistEntry, network=network, reason=reason, expires_at=expires_at, added_by=added_by
    )
    return entry, created  # type: ignore[return-value]


def whitelist_remove(*, network: str) -> None:
    """Ends the exemption of exactly this entry."""
    _entry_remove(WhitelistEntry, network=network)


def _attempts_refused(name: str, retry_after: float) -> RateLimited:
    minutes = max(1, math.ceil(retry_after / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return RateLimited(
        f"Too many attempts, try again in {minutes} {unit}.", retry_after=retry_after
    )


def _attempt_take(name: str, key: str) -> None:
    verdict = limits.take(name, key)
    if not verdict.allowed:
        raise _attempts_refused(name, verdict.retry_after)


def _account_key(username: str) -> str:
    # A digest: any string can be typed as a name, and the key's length stays fixed.
    return hashlib.sha256(username_key(username).encode()).hexdigest()[:32]


def login_attempt_check(*, ip: str | None, username: str) -> None:
    """Counts one login attempt against the address (unless whitelisted; PARLEY_RATE_LIMITS
    "login") and then against the account name in any case ("login_account", for every
    address), or raises RateLimited ("Too many attempts, try again in N minutes") with
    nothing counted past the limit that refused. Every way in calls it (accounts.backends)."""
    if ip and not rules.address_lists().whitelisted(ip):
        _attempt_take("login", ip)
    _attempt_take("login_account", _account_key(username))


def password_reset_attempt_check(*, ip: str | None, email: str) -> None:
    """Counts one password-reset request against the address like a login ("login", unless
    whitelisted) and against the mail address asked for ("password_reset", from everywhere),
    whether or not an account has it (no account enumeration), or raises RateLimited."""
    if ip and not rules.address_lists().whitelisted(ip):
        _attempt_take("login", ip)
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    _attempt_take("password_reset", digest)


def login_failures_forget(*, username: str) -> None:
    """After a successful login: the account name's attempts are forgotten (its bucket full)."""
    limits.bucket("login_account").reset(_account_key(username))


def registration_attempt_check(*, ip: str | None) -> None:
    """Counts one registration attempt against the address (unless whitelisted; "register"),
    or raises RateLimited. The API's throttle and the browser form both call it."""
    if ip and not rules.address_lists().whitelisted(ip):
        _attempt_take("register", ip)
