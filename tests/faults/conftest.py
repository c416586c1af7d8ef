"""Fixtures of the fault suite: private components, a fixture population written straight to
the test database, the promise checked against the database, and what each scenario measured
(printed at the end of the run and written to var/faults/<scenario>.json)."""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from messaging.models import Conversation, Membership
from tests.conftest import postgres_env_for_subprocess
from tests.faults.client import ChatClient
from tests.faults.harness import DaphneServer, Database, RedisInstance, load_average
from tests.servers import ROOT

RESULTS_DIR = ROOT / "var" / "faults"
_measured: list[tuple[str, dict]] = []


def pytest_terminal_summary(terminalreporter) -> None:
    if not _measured:
        return
    terminalreporter.section("fault suite: what each scenario measured")
    for name, numbers in _measured:
        terminalreporter.write_line(f"{name}: {json.dumps(numbers, sort_keys=True)}")


@pytest.fixture
def measured(request) -> Iterator[dict]:
    """A dict the scenario fills with its numbers; printed and saved even when it fails."""
    numbers: dict = {"load_average_start": load_average()}
    yield numbers
    numbers["load_average_end"] = load_average()
    name = request.node.name
    _measured.append((name, numbers))
    print(f"\n[faults] {name}: {json.dumps(numbers, sort_keys=True)}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(numbers, indent=2, sort_keys=True))


@pytest.fixture
def database() -> Database:
    db = settings.DATABASES["default"]
    return Database(
        f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.fixture
def private_redis(tmp_path) -> Iterator[RedisInstance]:
    instance = RedisInstance(tmp_path)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def server_env(redis_url: str, **extra: str) -> dict[str, str]:
    """A server process's environment: the test database, a private Redis, limits that do not
    shape the scenario (the suite injects faults, it does not test rate limiting)."""
    env = postgres_env_for_subprocess()
    env.update(
        {
            "REDIS_URL": redis_url,
            "REDIS_SHARD_URLS": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "PARLEY_RATE_WS_SEND": "1000/s:1000",
            "PARLEY_RATE_WS_HANDSHAKE": "100000/s:100000",
            "PARLEY_RATE_REST_WRITE": "1000/s:1000",
            "PARLEY_RATE_LOGIN": "100000/m",
            "PARLEY_RATE_LOGIN_ACCOUNT": "100000/m",
            "PARLEY_PUSH_WEBHOOK_URL": "",
            "PARLEY_VAPID_PRIVATE_KEY": "",
        }
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


@pytest.fixture
def servers(tmp_path) -> Iterator[list[DaphneServer]]:
    """Daphne processes the scenario creates (`servers.append(...)`); all stopped at the end,
    and their log tails printed when the scenario failed."""
    started: list[DaphneServer] = []
    yield started
    for server in started:
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed and "servers" in item.funcargs:
        for server in item.funcargs["servers"]:
            report.sections.append((f"daphne {server.name} log", server.log_tail(40)[-6000:]))
    return report


class Population:
    """Users with tokens and group conversations, bulk-written like bench/fixtures.py."""

    def __init__(self, users: int, group_size: int) -> None:
        run = uuid.uuid4().hex[:6]
        password = make_password(None)
        self.users = User.objects.bulk_create(
            [User(username=f"f{run}-{i}", password=password) for i in range(users)],
            batch_size=1000,
        )
        self.tokens = {u.pk: long_lived_token(u) for u in self.users}
        self.groups: dict[int, list[int]] = {}  # conversation -> member ids
        self.group_of: dict[int, int] = {}
        for start in range(0, users, group_size):
            members = [u.pk for u in self.users[start : start + group_size]]
            conversation = Conversation.objects.create(kind="group", name=f"g{start}")
            Membership.objects.bulk_create(
                [Membership(conversation=conversation, user_id=m) for m in members]
            )
            self.groups[conversation.pk] = members
            for m in members:
                self.group_of[m] = conversation.pk

    def clients(self, urls: list[str], **options) -> list[ChatClient]:
        return [
            ChatClient(name=str(u.pk), token=self.tokens[u.pk], urls=urls, preferred=n, **options)
            for n, u in enumerate(self.users)
        ]


def long_lived_token(user: User) -> str:
    """An access token that outlives the longest soak (the servers check only its signature
    and expiry)."""
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(hours=4))
    return str(token)


async def views_converged(
    clients: list[ChatClient], population: "Population", database: Database, *, within: float = 60
) -> None:
    """Waits until every client holds its conversation up to the last stored seq, with no sync
    still under way; fails after `within` seconds."""
    conversations = list(population.groups)
    deadline = time.monotonic() + within
    while True:
        last = await asyncio.to_thread(database.last_seqs, conversations)
        if all(
            c.highest.get(population.group_of[int(c.name)], 0)
            == last[population.group_of[int(c.name)]]
            and not c.syncing
            for c in clients
        ):
            return
        assert time.monotonic() < deadline, "views did not converge"
        await asyncio.sleep(0.2)


def check_views(
    clients: list[ChatClient], database: Database, group_of: dict[int, int]
) -> dict[str, int]:
    """The promise on the members' side: each client's view of its conversation equals the
    database, seq 1..last with the same ids, no gap, no second message at any seq."""
    stored = {c: database.messages(c) for c in set(group_of.values())}
    compared = 0
    for client in clients:
        conversation = group_of[int(client.name)]
        expected = [(seq, pk) for seq, pk, _ in stored[conversation]]
        assert client.view(conversation) == expected, (
            f"client {client.name}: view differs from the database in conversation "
            f"{conversation}: held {len(client.view(conversation))}, stored {len(expected)}"
        )
        assert client.counts["conflicting_frames"] == 0
        compared += len(expected)
    return {"views_checked": len(clients), "messages_compared": compared}


def check_acked_stored_once(clients: list[ChatClient], database: Database) -> dict[str, int]:
    """The promise on the storage side: every acked message is stored exactly once, with the
    id and seq its ack announced."""
    acked = {
        (int(client.name), cmid): ack for client in clients for cmid, ack in client.acks.items()
    }
    rows = database.rows(
        "SELECT sender_id, client_msg_id, count(*), min(id), min(seq) FROM messaging_message"
        " WHERE sender_id = ANY(%s) AND client_msg_id IS NOT NULL"
        " GROUP BY sender_id, client_msg_id",
        ([int(c.name) for c in clients],),
    )
    stored = {(sender, cmid): (count, str(pk), seq) for sender, cmid, count, pk, seq in rows}
    for key, ack in acked.items():
        assert key in stored, f"acked message {key} is not in the database"
        count, pk, seq = stored[key]
        assert count == 1, f"message {key} is stored {count} times"
        assert (pk, seq) == (ack["id"], ack["seq"]), f"message {key}: ack and row differ"
    assert all(count == 1 for count, _, _ in stored.values()), "a message is stored twice"
    return {"acked": len(acked), "stored": len(stored)}
