"""Scenario 4: a Celery worker killed (-9) in the middle of a push.

Several offline members are due a push; the local webhook receiver (push gateways are not
reachable from here) holds the first POST open while its worker is killed. A new worker must
redo that push with the same notification id, deliver the others, and record each once.
"""

import threading
import time
from collections import Counter

import pytest

from messaging.services import message_send
from push.models import PushNotification
from tests.conftest import postgres_env_for_subprocess
from tests.factories import make_direct, make_user
from tests.workers import celery_worker, http_receiver

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RECIPIENTS = 6
SECRET = "faults-webhook-secret"


def test_a_worker_killed_mid_push_redoes_it_and_records_each_push_once(settings, measured):
    settings.PARLEY_PUSH_DELAY_SECONDS = 0.2
    settings.PARLEY_PUSH_COALESCE_SECONDS = 2
    first_arrived, release = threading.Event(), threading.Event()
    with http_receiver() as webhook:
        settings.PARLEY_PUSH_WEBHOOK_URL = webhook.url
        settings.PARLEY_PUSH_WEBHOOK_SECRET = SECRET
        settings.PARLEY_VAPID_PRIVATE_KEY = ""

        def respond(number: int) -> int:
            if number == 1:
                first_arrived.set()
                release.wait(30)  # held open while its worker dies
                return 500
            return 200

        webhook.respond = respond
        env = postgres_env_for_subprocess()
        env.update(
            {
                "PARLEY_PUSH_WEBHOOK_URL": webhook.url,
                "PARLEY_PUSH_WEBHOOK_SECRET": SECRET,
                "PARLEY_PUSH_TIMEOUT": "2",
                "PARLEY_PUSH_RETRY_BACKOFF": "0.5",
                "CELERY_VISIBILITY_TIMEOUT": "4",
                "PARLEY_NODE_ID": "902",
            }
        )
        env.pop("PARLEY_VAPID_PRIVATE_KEY", None)
        sender = make_user()
        recipients = [make_user() for _ in range(RECIPIENTS)]
        for n, recipient in enumerate(recipients):
            direct = make_direct(sender, recipient)
            message_send(
                sender=sender, conversation_id=direct.pk, client_msg_id=f"w{n}", body=f"hi {n}"
            )
        try:
            with celery_worker(env, name="doomed") as worker:
                assert first_arrived.wait(60), "".join(worker.output[-30:])
                worker.kill9()
                killed_at = time.monotonic()
        finally:
            release.set()
        with celery_worker(env, name="restarted"):
            restarted_at = time.monotonic()
            deadline = time.monotonic() + 90
            while (
                PushNotification.objects.filter(status="sent").count() < RECIPIENTS
                and time.monotonic() < deadline
            ):
                time.sleep(0.2)
            all_sent_s = time.monotonic() - killed_at
            time.sleep(2)  # a late, doubled delivery would show up here
        posts = list(webhook.requests)

    records = list(PushNotification.objects.all())
    by_id = {str(r.pk): r for r in records}
    posted = Counter(p.headers["x-parley-notification-id"] for p in posts)
    redone = [pk for pk, count in posted.items() if count > 1]
    measured.update(
        {
            "recipients": RECIPIENTS,
            "records": len(records),
            "posts": len(posts),
            "posts_per_notification": sorted(posted.values()),
            "worker_restart_s": round(restarted_at - killed_at, 2),
            "all_sent_after_kill_s": round(all_sent_s, 2),
            "statuses": dict(Counter(r.status for r in records)),
        }
    )
    # Recorded once: one notification per offline recipient, each sent.
    assert len(records) == RECIPIENTS
    assert sorted(r.user_id for r in records) == sorted(u.pk for u in recipients)
    assert all(r.status == "sent" for r in records), measured["statuses"]
    # Redone: every POST carries a recorded id; the interrupted push went out again with the
    # same id, the others exactly once.
    assert set(posted) == set(by_id)
    assert len(redone) == 1, posted
    assert posted[redone[0]] == 2
    assert by_id[redone[0]].attempts == 2
