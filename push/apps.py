from django.apps import AppConfig


class PushConfig(AppConfig):
    name = "push"
    verbose_name = "Offline push"

    def ready(self) -> None:
        from messaging.signals import messages_stored

        from .services import on_messages_stored

        # Push subscribes to sends; the send path does not know push exists.
        messages_stored.connect(on_messages_stored, dispatch_uid="push.messages_stored")
