from django.apps import AppConfig


class PresenceConfig(AppConfig):
    name = "presence"

    def ready(self) -> None:
        from .store import MemoryPresenceStore

        # The embedded default's presence (presence/store.py): one per process, built here.
        self.memory_store = MemoryPresenceStore()
