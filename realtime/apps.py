from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime: the broker, the fan-out hub and publishing"

    def ready(self) -> None:
        from .broker import broker_from_settings

        # The process's one broker (realtime/broker.py), built from the settings once.
        self.broker = broker_from_settings()
