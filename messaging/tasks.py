"""Storage upkeep run by Celery beat (schedule in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from . import dedup, partitions


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=10,
)
def partitions_ensure() -> list[str]:
    """Creates the message partitions of this month and the next PARLEY_PARTITIONS_AHEAD.
    Idempotent; nothing to do on SQLite."""
    if not partitions.is_partitioned():
        return []
    return partitions.partitions_ensure(ahead=settings.PARLEY_PARTITIONS_AHEAD)


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=10,
)
def message_keys_prune() -> int:
    """Deletes uniqueness keys whose message is gone. Idempotent."""
    return dedup.message_keys_prune()
