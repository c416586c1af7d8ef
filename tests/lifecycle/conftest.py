import pytest

from tests.smtp import eager_celery, smtp_server  # noqa: F401 (fixtures for these tests)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploads, imports and exports of each test go to their own folder (local storage)."""
    root = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "uploads": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root},
        },
    }
    return root
