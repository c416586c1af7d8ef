"""Email digests, run by Celery beat every minute (settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task
from django.db import OperationalError

from .digests import digest_candidates, digest_send


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def email_digests_send() -> int:
    """One pass over the users who may be due a digest; returns how many mails were queued."""
    return sum(digest_send(user_id=user_id) for user_id in digest_candidates())
