"""Starting lifecycle jobs from REST and the admin. The work itself lives in slack/,
exports.py, retention.py and deletion.py; the Celery tasks (tasks.py) run it."""

import uuid
import zipfile
from typing import IO

from django.conf import settings
from django.core.files import File
from django.db import transaction

from accounts.models import User
from core.errors import BadRequest, Forbidden
from uploads.errors import FileTooLarge
from uploads.services import upload_storage

from .jobs import job_enqueue
from .models import Job

MAP_USERS = ("email", "username")


def slack_import_start(
    *, actor: User, stream: IO[bytes], size: int, dry_run: bool = False, map_users: str = "email"
) -> Job:
    """Staff queue a Slack export for import: the zip is kept in the uploads storage (where a
    worker on another machine reads it) and a job runs slack_import on it."""
    if not actor.is_staff:
        raise Forbidden("Only staff can import.", field="file")
    if map_users not in MAP_USERS:
        raise BadRequest("map_users is email or username", field="map_users")
    if size > settings.PARLEY_IMPORT_MAX_BYTES:
        raise FileTooLarge(limit=settings.PARLEY_IMPORT_MAX_BYTES)
    stream.seek(0)
    if not zipfile.is_zipfile(stream):
        raise BadRequest("The file is not a zip (a Slack export is one).", field="file")
    stream.seek(0)
    key = upload_storage().save(f"imports/{uuid.uuid4().hex}.zip", File(stream))
    with transaction.atomic():
        job = Job.objects.create(
            kind=Job.Kind.IMPORT_SLACK,
            user=actor,
            options={"dry_run": dry_run, "map_users": map_users},
            file_key=key,
            file_size=size,
        )
        from . import tasks

        job_enqueue(job, tasks.slack_import_run)
    return job
