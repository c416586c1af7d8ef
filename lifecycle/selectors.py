"""Reads of the data lifecycle: jobs as their owners see them, and where history starts."""

from typing import Any

from django.utils import timezone

from accounts.models import User
from core.errors import NotFound

from .exports import export_download_url
from .models import Job
from .retention import history_first_seq

__all__ = ["history_first_seq", "job_data", "job_for"]


def job_for(*, user: User, job_id: object, kinds: list[str]) -> Job:
    """The job if it is one of these kinds and the user's (staff see every job)."""
    job = Job.objects.filter(pk=job_id, kind__in=kinds).first()
    if job is None or (job.user_id != user.pk and not user.is_staff):
        raise NotFound("No such job.", field="id")
    return job


def job_data(job: Job) -> dict[str, Any]:
    downloadable = (
        job.status == Job.Status.DONE
        and bool(job.file_key)
        and job.expires_at is not None
        and job.expires_at > timezone.now()
        and job.kind in (Job.Kind.EXPORT_USER, Job.Kind.EXPORT_CONVERSATION)
    )
    return {
        "id": str(job.pk),
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "summary": job.summary,
        "error": job.error,
        "conversation": job.conversation_id,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "expires_at": job.expires_at,
        "download_url": export_download_url(job) if downloadable else None,
        "size": job.file_size if downloadable else None,
    }


def message_history_page(
    *, user_id: int, conversation_id: int, after_seq: int | None, before_seq: int | None, limit: int
) -> tuple[list[Any], bool, int, int]:
    """messaging's message_history and the conversation's `first_seq` (where retention left
    history starting), for `sync` and REST history in one database hop."""
    from messaging.selectors import message_history

    page, has_more, last_seq = message_history(
        user_id=user_id,
        conversation_id=conversation_id,
        after_seq=after_seq,
        before_seq=before_seq,
        limit=limit,
    )
    return page, has_more, last_seq, history_first_seq(conversation_id=conversation_id)
