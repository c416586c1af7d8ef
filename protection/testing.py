"""For the test suite: forget in-process protection state between tests."""

from .state import protection_state


def protection_state_reset() -> None:
    """Empties the in-memory buckets and drops the IP-list snapshot (the test DB rolled back)."""
    protection_state().reset()
