"""Scenario: the functional send, sync and receipt tests, run through a real PgBouncer in
transaction pooling mode.

A second pytest runs those tests with DATABASE_URL pointing at Debian's pgbouncer (in front of
the shared PostgreSQL, pool_mode = transaction, few server connections) and
DATABASE_PGBOUNCER=1, Parley's setting for it. Everything they do (WebSocket sends batched into
one transaction, sync, receipts, REST history, the test database's creation and flushes) must
pass with a server connection that changes between transactions. Its own test database is
dropped at the end, directly on PostgreSQL.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from tests.faults.harness import PgBouncer
from tests.servers import ROOT

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

# The functional tests of the send path, sync and receipts (kept to the ones that cover
# them, so the scenario stays near a minute on a busy machine).
SELECTION = [
    "tests/messaging/test_consumers.py::test_two_users_chat_both_ways_and_a_third_sees_nothing",
    "tests/messaging/test_consumers.py::test_message_reaches_every_connection_of_every_member",
    "tests/messaging/test_consumers.py::"
    "test_repeated_client_msg_id_stores_one_message_and_acks_the_original",
    "tests/messaging/test_consumers.py::"
    "test_rest_send_is_delivered_live_and_socket_send_is_in_rest_history",
    "tests/messaging/test_consumers.py::"
    "test_reconnect_and_sync_gets_exactly_the_missed_messages_in_order",
    "tests/messaging/test_consumers.py::"
    "test_sends_arriving_together_share_a_transaction_and_each_get_their_own_answer",
    "tests/receipts/test_consumers.py::test_receipts_reach_the_sender_and_the_readers_other_device",
    "tests/receipts/test_consumers.py::test_group_sync_tells_the_sender_counts",
    "tests/receipts/test_services.py",
]


def test_send_sync_and_receipt_tests_pass_through_pgbouncer_in_transaction_mode(measured):
    db = settings.DATABASES["default"]
    host, port = db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)
    root = Path(tempfile.mkdtemp(prefix="parley-bouncer-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    name = f"{db['NAME']}_bouncer"  # the inner run's test database: test_<name>
    bouncer = PgBouncer(root, port, pool_size=5).start()
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"postgres://{db['USER']}@127.0.0.1:{bouncer.port}/{name}",
            "DATABASE_PGBOUNCER": "1",
            "REDIS_URL": settings.REDIS_URL,
        }
    )
    started = time.monotonic()
    try:
        run = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", *SELECTION),
                *(
                    "-q",
                    "-p",
                    "no:cacheprovider",
                ),
                # Created through PgBouncer, kept at the end (PgBouncer still holds server
                # connections to it then): dropped below, directly.
                *("--create-db", "--reuse-db"),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        bouncer.stop()
        shutil.rmtree(root, ignore_errors=True)
        with psycopg.connect(
            f"postgresql://{db['USER']}@{host}:{port}/postgres", autocommit=True
        ) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "test_{name}" WITH (FORCE)')
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|error|errors)", summary)}
    measured.update(
        {
            "pool_mode": "transaction",
            "server_pool_size": bouncer.pool_size,
            "tests": counts,
            "seconds": round(time.monotonic() - started, 1),
        }
    )
    assert run.returncode == 0, f"{run.stdout[-6000:]}\n{run.stderr[-3000:]}\n{bouncer.log_tail()}"
    assert counts.get("passed", 0) >= 15 and not counts.get("failed"), summary
