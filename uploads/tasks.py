"""Upload tasks: thin wrappers over uploads.services; safe to run twice."""

from celery import shared_task

from . import services


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=10)
def upload_files_delete(keys: list[str]) -> int:
    services.files_delete(keys=keys)
    return len(keys)


@shared_task(acks_late=True)
def uploads_prune_unattached() -> int:
    return services.uploads_prune_unattached()
