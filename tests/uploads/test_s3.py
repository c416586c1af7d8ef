"""The S3 storage backend against a real S3-compatible server: moto in server mode, its own
process on a free loopback port (not a mock object inside this process)."""

import io
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from PIL import Image

from tests.factories import make_direct, make_user
from tests.servers import free_port, stop_process
from tests.uploads.conftest import png_bytes, upload

pytestmark = pytest.mark.django_db

BUCKET = "parley-uploads"
CREDENTIALS = {"aws_access_key_id": "parley-test", "aws_secret_access_key": "parley-test-secret"}


@pytest.fixture(scope="module")
def s3_server():
    """A moto S3 server process on 127.0.0.1; its endpoint URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()  # noqa: S310
            break
        except urllib.error.HTTPError:
            break  # it answers
        except OSError:
            assert process.poll() is None, "moto server exited"
            assert time.monotonic() < deadline, "moto server did not start"
            time.sleep(0.2)
    yield endpoint
    stop_process(process, timeout=10)


@pytest.fixture
def s3_bucket(s3_server, settings, monkeypatch):
    """Uploads stored in a fresh bucket of the moto server (PARLEY_UPLOAD_STORAGE=s3 shape)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        config=Config(proxies={}),
        **CREDENTIALS,
    )
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "uploads": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "default_acl": None,
                "file_overwrite": False,
            },
        },
    }
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def keys(client) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_upload_attach_download_and_delete_through_a_real_s3_server(
    client_for, s3_bucket, eager_tasks, django_capture_on_commit_callbacks
):
    alice, bob, carol = make_user(), make_user(), make_user()
    conversation = make_direct(alice, bob)
    image = png_bytes((300, 200))

    item = upload(client_for(alice), image, "chart.png").json()
    assert item["content_type"] == "image/png" and item["thumbnail_url"]
    stored = keys(s3_bucket)
    assert len(stored) == 2  # the image and its thumbnail, in the bucket

    sent = client_for(alice).post(
        f"/api/conversations/{conversation.pk}/messages/",
        {"client_msg_id": "s3-1", "body": "chart", "attachments": [item["id"]]},
        format="json",
    )
    assert sent.status_code == 201, sent.content

    download = client_for(bob).get(item["url"])
    assert download.status_code == 200
    served = Image.open(io.BytesIO(b"".join(download.streaming_content)))
    assert served.tobytes() == Image.open(io.BytesIO(image)).tobytes()
    assert download["Content-Type"] == "image/png"
    assert client_for(bob).get(item["thumbnail_url"]).status_code == 200
    assert client_for(carol).get(item["url"]).status_code == 404

    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        deleted = client_for(alice).delete(
            f"/api/conversations/{conversation.pk}/messages/{sent.json()['id']}/"
        )
    assert deleted.status_code == 200
    assert keys(s3_bucket) == []
    assert client_for(bob).get(item["url"]).status_code == 404
