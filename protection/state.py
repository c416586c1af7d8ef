"""One process's protection state, built once at start-up (`ProtectionConfig.ready`) instead of
module-level registries: the in-memory token buckets and the Redis handles of the Redis ones,
the named limits' buckets, and the local copy of the IP lists.

Code reaches it through `protection_state()` (the app registry holds it, as it holds the app's
config); the test suite empties it between tests with `reset` (protection.testing).
"""

import threading

from django.apps import apps

from .buckets import BucketStores, Rate, TokenBucket
from .rules import AddressListsCache


class ProtectionState:
    def __init__(self) -> None:
        self.buckets = BucketStores()
        self.lists = AddressListsCache()
        self.limits: dict[tuple[str, str], TokenBucket] = {}
        self.lock = threading.Lock()

    def bucket(self, name: str, rate_text: str) -> TokenBucket:
        """The bucket of a named limit at this rate, built on first use."""
        found = self.limits.get((name, rate_text))
        if found is None:
            with self.lock:
                found = self.limits.setdefault(
                    (name, rate_text), TokenBucket(name, Rate.parse(rate_text), self.buckets)
                )
        return found

    def reset(self) -> None:
        """Forgets every in-memory bucket and the IP-list copy (tests: the database was rolled
        back under them)."""
        self.buckets.memory.clear()
        self.lists.forget()


def protection_state() -> ProtectionState:
    """This process's protection state."""
    state: ProtectionState = apps.get_app_config("protection").state  # type: ignore[attr-defined]
    return state
