from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from realtime import conversation_events

        from .outgoing import ActiveWebhooks, on_conversation_events

        conversation_events.connect(on_conversation_events, dispatch_uid="integrations.outgoing")
        # Whether any webhook is active, as this process last saw it (integrations/outgoing.py).
        self.active_webhooks = ActiveWebhooks()
