"""On the PostgreSQL + Redis configuration mail leaves through a real Celery worker process:
the request only queues it; the worker talks to the SMTP server."""

import pytest

from tests.conftest import postgres_env_for_subprocess
from tests.factories import make_user
from tests.smtp import link_in
from tests.workers import celery_worker


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_reset_mail_is_sent_by_a_worker(smtp_server, anon_client):
    make_user("alice", email="alice@example.com")
    env = {
        **postgres_env_for_subprocess(),
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        "PARLEY_PUBLIC_URL": "http://parley.test",
    }
    with celery_worker(env, name="mail"):
        response = anon_client.post(
            "/api/auth/password/reset/", {"email": "alice@example.com"}, format="json"
        )
        assert response.status_code == 202
        [mail] = smtp_server.wait_for(1, timeout=60)
    assert mail["To"] == "alice@example.com"
    assert link_in(mail).startswith("http://parley.test/password/reset/")
