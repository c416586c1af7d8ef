"""Outgoing webhook tasks: thin wrappers over integrations.outgoing."""

from celery import shared_task
from django.db import OperationalError

from . import outgoing


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=10)
def webhook_lane_run(webhook_id: int, conversation_id: int) -> int:
    return outgoing.webhook_lane_run(webhook_id=webhook_id, conversation_id=conversation_id)


@shared_task(acks_late=True)
def webhook_deliveries_due() -> int:
    return outgoing.webhook_deliveries_due()
