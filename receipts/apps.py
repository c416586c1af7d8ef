from django.apps import AppConfig


class ReceiptsConfig(AppConfig):
    name = "receipts"

    def ready(self) -> None:
        from messaging.signals import history_read

        from .selectors import on_history_read

        # Receipts subscribe to history reads; messaging does not know receipts exist.
        history_read.connect(on_history_read, dispatch_uid="receipts.history_read")
