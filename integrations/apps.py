from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from realtime import conversation_events

        from .outgoing import on_conversation_events

        conversation_events.connect(on_conversation_events, dispatch_uid="integrations.outgoing")
