"""The blacklist and whitelist as every process sees them: a local snapshot, no query per request.

Each process keeps the active entries in memory and, at most every PARLEY_IP_LISTS_REFRESH
seconds, compares a version stamp with the one it loaded; only a changed stamp costs a reload
from the database. Every change bumps the stamp (services call `change_recorded` in their
transaction), so it applies in every process within that interval, whichever process made it.
The stamp is read where every process can see it (PARLEY_IP_LISTS_STAMP):

- "cache" (with Redis): a random stamp in the shared cache, renewed after each commit; a
  check is one cache read.
- "database" (the embedded default, whose local-memory cache each process has to itself: a
  `manage.py blacklist` run next to the server would change only its own): the version row
  (models.AddressListsVersion) bumped in the change's own transaction; a check is one
  primary-key read.

Expiry is checked against the clock on every lookup, so an expired entry stops applying by
itself.
"""

import ipaddress
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from .addresses import IPNetwork, parse_ip

logger = logging.getLogger(__name__)

VERSION_KEY = "protection:lists:version"


@dataclass(frozen=True)
class Rule:
    network: IPNetwork
    expires_at: datetime | None


# (IP version, prefix length) -> {network address as int: expiry or None}
Index = dict[tuple[int, int], dict[int, datetime | None]]


def _index(rules: tuple[Rule, ...]) -> Index:
    index: Index = {}
    for rule in rules:  # networks are unique (canonical form), so no entry overwrites another
        net = rule.network
        index.setdefault((net.version, net.prefixlen), {})[int(net.network_address)] = (
            rule.expires_at
        )
    return index


def _matches(index: Index, ip: str) -> bool:
    """One dict lookup per distinct prefix length in the list, however long the list is."""
    address = parse_ip(ip)
    if address is None or not index:
        return False
    bits = 32 if address.version == 4 else 128
    value = int(address)
    now = None
    for (version, prefixlen), by_address in index.items():
        if version != address.version:
            continue
        network = value >> (bits - prefixlen) << (bits - prefixlen)
        if network in by_address:
            expires_at = by_address[network]
            if expires_at is None:
                return True
            now = now or timezone.now()
            if expires_at > now:
                return True
    return False


@dataclass(frozen=True)
class AddressLists:
    version: str
    blacklist: tuple[Rule, ...]
    whitelist: tuple[Rule, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_black", _index(self.blacklist))
        object.__setattr__(self, "_white", _index(self.whitelist))

    def blacklisted(self, ip: str) -> bool:
        return _matches(self._black, ip)  # type: ignore[attr-defined]

    def whitelisted(self, ip: str) -> bool:
        return _matches(self._white, ip)  # type: ignore[attr-defined]


def _load(version: str) -> AddressLists:
    from .models import BlacklistEntry, WhitelistEntry

    def rules(model) -> tuple[Rule, ...]:  # type: ignore[no-untyped-def]
        now = timezone.now()
        return tuple(
            Rule(ipaddress.ip_network(network, strict=False), expires_at)
            for network, expires_at in model.objects.values_list("network", "expires_at")
            if expires_at is None or expires_at > now
        )

    return AddressLists(version, rules(BlacklistEntry), rules(WhitelistEntry))


def _stamp() -> str:
    """The shared version stamp, read before the lists (a reload is never older than its stamp)."""
    if settings.PARLEY_IP_LISTS_STAMP == "database":
        from .models import AddressListsVersion

        return f"db.{AddressListsVersion.current()}"
    version = cache.get(VERSION_KEY)
    if version is None:  # first use, or the cache lost it: every process reloads once
        version = uuid.uuid4().hex
        cache.add(VERSION_KEY, version, timeout=None)
        version = cache.get(VERSION_KEY, version)
    return version


class AddressListsCache:
    """One process's copy of the lists and when its stamp was last checked; part of its
    protection state (protection/state.py)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.snapshot: AddressLists | None = None
        self.checked_at = 0.0

    def is_fresh(self) -> bool:
        age = time.monotonic() - self.checked_at
        return self.snapshot is not None and age < settings.PARLEY_IP_LISTS_REFRESH

    def get(self, *, recheck: bool = False) -> AddressLists:
        snapshot = self.snapshot
        if snapshot is not None and not recheck and self.is_fresh():
            return snapshot
        with self.lock:
            snapshot = self.snapshot
            if snapshot is not None and not recheck and self.is_fresh():
                return snapshot
            try:
                version = _stamp()
                if snapshot is None or snapshot.version != version:
                    snapshot = self.snapshot = _load(version)
            except Exception:
                # Cache or database unavailable: keep serving the lists we have (none yet:
                # none), and try again after the refresh interval rather than on every request.
                logger.warning(
                    "IP lists could not be refreshed; using the last copy", exc_info=True
                )
                if snapshot is None:
                    snapshot = self.snapshot = AddressLists("unavailable", (), ())
            self.checked_at = time.monotonic()
            return snapshot

    def forget(self) -> None:
        """Drops the copy: the next lookup reloads."""
        with self.lock:
            self.snapshot = None


def _cache() -> AddressListsCache:
    from .state import protection_state

    return protection_state().lists


def address_lists(*, recheck: bool = False) -> AddressLists:
    """The current lists (sync: may read the stamp and, after a change, the database).

    `recheck`: read the stamp now, however fresh the copy (the socket watch, once an interval).
    """
    return _cache().get(recheck=recheck)


async def aaddress_lists(*, recheck: bool = False) -> AddressLists:
    """As address_lists, for async code: the refresh (if due) runs in a worker thread."""
    lists = _cache()
    snapshot = lists.snapshot
    if snapshot is not None and not recheck and lists.is_fresh():
        return snapshot
    return await database_sync_to_async(lists.get)(recheck=recheck)


def change_recorded() -> None:
    """Call inside the transaction that changes a list: every process reloads after commit."""
    from .models import AddressListsVersion

    AddressListsVersion.bump()  # the database stamp, committed with the change itself
    transaction.on_commit(lists_changed)


def lists_changed() -> None:
    """After commit: a new cache stamp for all processes, an immediate reload here."""
    try:
        cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:
        logger.warning("IP lists changed but the cache is unavailable", exc_info=True)
    _cache().forget()
