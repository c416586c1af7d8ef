"""Background jobs and their progress: created by the services that start them, advanced by
the Celery tasks that run them, read by REST, the admin and the management commands."""

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from .models import Job

logger = logging.getLogger(__name__)

ProgressFn = Callable[..., None]


def job_start(*, job_id: object) -> Job | None:
    """Marks the job running; None when it does not exist or already finished (a task that a
    worker takes a second time, after a restart, does not run a finished job again)."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.status in (Job.Status.DONE, Job.Status.FAILED):
        return None
    job.status = Job.Status.RUNNING
    job.started_at = job.started_at or timezone.now()
    job.save(update_fields=["status", "started_at"])
    return job


def job_progress(job: Job, **progress: Any) -> None:
    """Records how far the job is (outside any transaction the job may hold open elsewhere:
    the row is written at once, so GET .../{id}/ shows it while the job runs)."""
    job.progress = {**job.progress, **progress}
    Job.objects.filter(pk=job.pk).update(progress=job.progress)


def job_finish(job: Job, *, summary: dict[str, Any], **fields: Any) -> None:
    job.status = Job.Status.DONE
    job.summary = summary
    job.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=["status", "summary", "finished_at", "progress", *sorted(fields)])


def job_fail(job: Job, *, error: str) -> None:
    logger.warning("lifecycle job %s (%s) failed: %s", job.pk, job.kind, error)
    job.status = Job.Status.FAILED
    job.error = error[:4000]
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])


def job_enqueue(job: Job, task: Any) -> None:
    """Runs the job's task after the transaction that created the job commits (at once on the
    embedded default, where Celery is eager)."""
    transaction.on_commit(lambda: task.delay(str(job.pk)), robust=True)
