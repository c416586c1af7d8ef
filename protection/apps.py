from django.apps import AppConfig


class ProtectionConfig(AppConfig):
    name = "protection"
    verbose_name = "Protection: IP lists and rate limits"

    def ready(self) -> None:
        from .state import ProtectionState

        # The process's buckets and IP-list copy (protection/state.py).
        self.state = ProtectionState()
