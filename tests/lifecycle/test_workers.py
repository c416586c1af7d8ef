"""On PostgreSQL + Redis the lifecycle jobs run on a real Celery worker process: the request
only queues them, and their progress is read back over REST while the worker writes it."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from messaging.models import Conversation
from tests.conftest import postgres_env_for_subprocess
from tests.factories import make_user
from tests.lifecycle.slack_export import slack_export_zip
from tests.workers import celery_worker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def wait_for_job(client, path: str, *, timeout: float = 120) -> tuple[dict, list[str]]:
    """The finished job, and every status seen while polling."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(path).json()
        seen.append(job["status"])
        if job["status"] in ("done", "failed"):
            return job, seen
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_import_and_export_run_on_a_worker(client_for, media_root):
    staff = make_user("admin", is_staff=True, is_superuser=True)
    client = client_for(staff)
    env = {**postgres_env_for_subprocess(), "PARLEY_MEDIA_ROOT": str(media_root)}
    with celery_worker(env, name="lifecycle"):
        response = client.post(
            "/api/admin/imports/",
            {"file": SimpleUploadedFile("slack.zip", slack_export_zip())},
            format="multipart",
        )
        assert response.status_code == 202
        # The request only queued it (a fast worker may already be done when it answers).
        assert response.json()["status"] in ("queued", "running", "done")
        job, _ = wait_for_job(client, f"/api/admin/imports/{response.json()['id']}/")
        assert job["status"] == "done", job
        assert job["summary"]["messages_imported"] == 15
        assert Conversation.objects.get(name="general").last_seq == 10

        started = client.post("/api/me/export/").json()
        job, _ = wait_for_job(client, f"/api/me/export/{started['id']}/")
        assert job["status"] == "done" and job["download_url"]
        download = client.get(f"/api/exports/{job['id']}/download/")
        assert download.status_code == 200
        assert b"".join(download.streaming_content)[:2] == b"PK"
