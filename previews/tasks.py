"""Link preview tasks: thin wrappers over previews.services."""

from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def message_previews_fetch(message_id: int, conversation_id: int, urls: list[str]) -> int:
    return services.message_previews_fetch(
        message_id=message_id, conversation_id=conversation_id, urls=urls
    )
