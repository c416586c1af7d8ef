import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploads of each test go to their own folder (local storage)."""
    root = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "uploads": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root},
        },
    }
    return root


def png_bytes(size=(64, 48), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def upload(client, data: bytes, name: str = "file.bin"):
    return client.post(
        "/api/uploads/", {"file": SimpleUploadedFile(name, data)}, format="multipart"
    )


@pytest.fixture
def eager_tasks():
    """A context manager running Celery tasks in this process (as the embedded default does),
    for tests that watch what a task does on the PostgreSQL + Redis run too."""
    import contextlib

    from chatsite.celery import app

    @contextlib.contextmanager
    def eager():
        before = app.conf.task_always_eager
        app.conf.task_always_eager = True
        try:
            yield
        finally:
            app.conf.task_always_eager = before

    return eager
