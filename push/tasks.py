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


# Eager (embedded default, on the push timer thread): how often a locked SQLite table is retried.
EAGER_LOCKED_ATTEMPTS = 50


@shared_task(bind=True, acks_late=True, max_retries=None)
def push_deliver(self, notification_id: str) -> str:  # type: ignore[no-untyped-def]
    locked = 0
    while True:
        try:
            outcome = services.push_deliver(notification_id=notification_id)
        except OperationalError as error:
            # A worker retries later; the in-process timer has nobody to hand the retry to (an
            # eager retry runs again at once), so it waits out the other writer here.
            locked += 1
            if not self.request.is_eager or locked >= EAGER_LOCKED_ATTEMPTS:
                raise self.retry(countdown=5, exc=error) from error
            time.sleep(0.1)
            continue
        if outcome.retry_in is None:
            return outcome.status
        if not self.request.is_eager:
            raise self.retry(countdown=outcome.retry_in)
        # Embedded default (eager, on the push timer thread): wait here instead.
        time.sleep(outcome.retry_in)
