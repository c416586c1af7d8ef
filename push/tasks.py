"""Push tasks: thin wrappers over push.services; idempotent, acked late, retried with backoff."""

import time

from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=10,
)
def push_window_notify(conversation_id: int, window_ms: int, window_seconds: int) -> list[str]:
    pending = services.push_window_notify(
        conversation_id=conversation_id, window_ms=window_ms, window_seconds=window_seconds
    )
    for notification_id in pending:
        push_deliver.delay(notification_id)
    return pending


@shared_task(bind=True, acks_late=True, max_retries=None)
def push_deliver(self, notification_id: str) -> str:  # type: ignore[no-untyped-def]
    while True:
        try:
            outcome = services.push_deliver(notification_id=notification_id)
        except OperationalError as error:
            raise self.retry(countdown=5, exc=error) from error
        if outcome.retry_in is None:
            return outcome.status
        if not self.request.is_eager:
            raise self.retry(countdown=outcome.retry_in)
        # Embedded default (eager, on the push timer thread): wait here instead.
        time.sleep(outcome.retry_in)
