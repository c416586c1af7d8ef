"""For the test suite: forget in-process protection state between tests."""

from . import buckets, rules


def protection_state_reset() -> None:
    """Empties the in-memory buckets and drops the IP-list snapshot (the test DB rolled back)."""
    buckets.memory.clear()
    rules.forget()
