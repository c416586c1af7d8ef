from django.apps import AppConfig


class ReceiptsConfig(AppConfig):
    name = "receipts"

    def ready(self) -> None:
        from messaging.signals import history_read

        from .coalescing import MemoryGates
        from .selectors import on_history_read

        # Receipts subscribe to history reads; messaging does not know receipts exist.
        history_read.connect(on_history_read, dispatch_uid="receipts.history_read")
        # The embedded default's held receipts (receipts/coalescing.py): one per process.
        self.memory_gates = MemoryGates()
