"""Celery tasks of the data lifecycle: each runs one Job (its progress visible while it runs)
or one periodic sweep. Eager on the embedded default; real workers on PostgreSQL + Redis."""

import logging
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.db import transaction

from core.errors import ChatError

from .jobs import job_fail, job_finish, job_progress, job_start
from .models import Job
from .slack.reader import SlackImportError

logger = logging.getLogger(__name__)


def _run(job_id: str, work: Callable[[Job], dict[str, Any]]) -> Job | None:
    """Runs the job's work and records how it ended; the finished job, or None."""
    job = job_start(job_id=job_id)
    if job is None:
        return None
    try:
        summary = work(job)
    except (SlackImportError, ChatError) as exc:
        job_fail(job, error=str(exc))
        return None
    except Exception as exc:
        logger.exception("lifecycle job %s failed", job_id)
        job_fail(job, error=f"{type(exc).__name__}: {exc}")
        return None
    fields = {name: getattr(job, name) for name in ("file_key", "file_size", "expires_at")}
    with transaction.atomic():
        job_finish(job, summary=summary, **fields)
    return job


@shared_task(acks_late=True)
def slack_import_run(job_id: str) -> None:
    """Runs an import uploaded through the API (the zip waits in the uploads storage)."""
    from uploads.services import upload_storage

    from .slack.importer import slack_import

    def work(job: Job) -> dict[str, Any]:
        storage = upload_storage()
        with tempfile.TemporaryFile() as local:
            with storage.open(job.file_key, "rb") as source:
                shutil.copyfileobj(source, local, 1024 * 1024)
            local.seek(0)
            summary = slack_import(
                source=local,
                dry_run=bool(job.options.get("dry_run")),
                map_users=job.options.get("map_users", "email"),
                owner=job.user,
                progress=lambda data: job_progress(job, **data),
            )
        storage.delete(job.file_key)
        job.file_key = ""
        return summary.as_dict()

    _run(job_id, work)


@shared_task(acks_late=True)
def export_run(job_id: str) -> None:
    from .exports import export_ready_mail
    from .exports import export_run as write

    def work(job: Job) -> dict[str, Any]:
        job_progress(job, stage="writing", done=0)
        result = write(job=job, progress=lambda **data: job_progress(job, **data))
        job.progress = {**job.progress, "stage": "done"}
        return result

    if _run(job_id, work) is not None:
        export_ready_mail(job_id=job_id)


@shared_task(acks_late=True)
def account_anonymise(job_id: str) -> None:
    from .deletion import account_anonymise as anonymise

    def work(job: Job) -> dict[str, Any]:
        if job.user is None:
            raise ChatError("the account to delete is gone")
        job_progress(job, stage="anonymising")
        result = anonymise(user=job.user)
        job.progress = {**job.progress, "stage": "done"}
        return result

    _run(job_id, work)


@shared_task(acks_late=True)
def retention_apply() -> str:
    """The daily retention run, recorded as a Job so operators see it in the admin."""
    from .retention import retention_apply as apply

    job = Job.objects.create(kind=Job.Kind.RETENTION)

    def work(job: Job) -> dict[str, Any]:
        return apply(progress=lambda **data: job_progress(job, **data))

    _run(str(job.pk), work)
    return str(job.pk)


@shared_task(acks_late=True)
def exports_expire() -> int:
    from .exports import exports_expire as expire

    return expire()
