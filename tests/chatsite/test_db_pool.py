"""One server process under concurrent REST load holds no more PostgreSQL connections than its
pool allows, and every request is served (it waits for a pooled connection, it does not fail)."""

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import websockets
from django.conf import settings

from tests.chatsite.metrics_scrape import parse, value
from tests.conftest import postgres_env_for_subprocess
from tests.factories import access_token, make_user
from tests.servers import uvicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

POOL_SIZE = 4
REQUESTS = 200
CLIENTS = 50


def get(port: int, path: str, token: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (loopback)
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def observer() -> psycopg.Connection:
    """A connection of the test's own (opened before the load, so a server that exhausts
    PostgreSQL cannot keep the test from counting)."""
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname=db["NAME"],
        autocommit=True,
    )


def server_connections(conn: psycopg.Connection, application_name: str) -> int:
    """The server's connections to the test database, as PostgreSQL counts them."""
    return conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = %s",
        [application_name],
    ).fetchone()[0]


def scrape_until(port: int, condition, *, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            scraped = parse(response.read().decode())
        if condition(scraped) or time.monotonic() > deadline:
            return scraped
        time.sleep(0.1)


def test_one_process_under_load_keeps_to_its_pool_and_serves_every_request():
    users = [make_user() for _ in range(20)]
    tokens = [access_token(user) for user in users]
    application_name = f"parley-test-{uuid.uuid4().hex[:12]}"
    env = postgres_env_for_subprocess()
    env.update(
        {
            "DB_APPLICATION_NAME": application_name,
            "DB_POOL_MIN_SIZE": "1",
            "DB_POOL_MAX_SIZE": str(POOL_SIZE),
            "DB_POOL_STATS_INTERVAL": "0.2",
        }
    )
    env.pop("DB_CONN_MAX_AGE", None)  # as in production
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(server_connections(conn, application_name))
            done.wait(0.02)

    with observer() as conn, uvicorn(env) as port:
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with ThreadPoolExecutor(CLIENTS) as clients:
                statuses = list(
                    clients.map(
                        lambda n: get(
                            port,
                            "/api/me/" if n % 2 else "/api/conversations/",
                            tokens[n % len(tokens)],
                        ),
                        range(REQUESTS),
                    )
                )
        finally:
            done.set()
            sampler.join()
        samples.append(server_connections(conn, application_name))
        # The pool's own account, as Prometheus sees it (copied every DB_POOL_STATS_INTERVAL).
        scraped = scrape_until(
            port, lambda s: value(s, "parley_db_pool_requests_total") >= REQUESTS
        )

    print(
        f"{REQUESTS} requests from {CLIENTS} clients, pool max {POOL_SIZE}: at most "
        f"{max(samples)} connections in {len(samples)} samples; statuses "
        f"{json.dumps({s: statuses.count(s) for s in sorted(set(statuses))})}; "
        f"{value(scraped, 'parley_db_pool_waits_total'):.0f} waited for a connection, "
        f"{value(scraped, 'parley_db_pool_wait_seconds_total'):.1f} s in all"
    )
    assert max(samples) > 0, "the server's connections were never seen"
    assert max(samples) <= POOL_SIZE
    assert statuses == [200] * REQUESTS
    assert value(scraped, "parley_db_pool_max_connections") == POOL_SIZE
    assert value(scraped, "parley_db_pool_requests_total") >= REQUESTS


def test_socket_hops_give_their_connection_back_to_the_pool():
    """Handshakes and frames hop into the event loop's worker threads for the database; each
    hop gives its connection back, so a small pool serves many sockets and REST beside them."""
    users = [make_user() for _ in range(12)]
    application_name = f"parley-test-{uuid.uuid4().hex[:12]}"
    env = postgres_env_for_subprocess()
    env.update(
        {
            "DB_APPLICATION_NAME": application_name,
            "DB_POOL_MIN_SIZE": "1",
            "DB_POOL_MAX_SIZE": "2",
            # A pool that ran dry shows as a refused handshake, not a long wait.
            "DB_POOL_TIMEOUT": "5",
        }
    )

    async def ready(port: int, user) -> str:
        url = f"ws://127.0.0.1:{port}/ws/?token={access_token(user)}"
        async with websockets.connect(url) as socket:
            frame = json.loads(await asyncio.wait_for(socket.recv(), 30))
            await socket.send(json.dumps({"type": "ping"}))
            return frame["type"]

    async def sockets(port: int) -> list[str]:
        return await asyncio.gather(*(ready(port, user) for user in users))

    with observer() as conn, uvicorn(env) as port:
        frames = asyncio.run(sockets(port))
        status = get(port, "/api/me/", access_token(users[0]))
        held = server_connections(conn, application_name)

    assert frames == ["ready"] * len(users)
    assert status == 200
    assert held <= 2


def test_a_pool_whose_database_went_away_fails_a_request_at_once_not_after_the_timeout():
    """PostgreSQL stops (the proxy in front of it is cut) while the pool holds idle
    connections: the next request fails with OperationalError right away (a socket's `send`
    answered `unavailable`, REST 503), instead of psycopg_pool checking each dead connection
    with growing pauses (1 + 2 + 4 + 8 s for four) and then waiting for a reconnect."""
    from chatsite.db.postgresql.base import Pool
    from tests.faults.harness import TcpProxy

    db = settings.DATABASES["default"]
    proxy = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)).start()
    pool = Pool(
        f"host=127.0.0.1 port={proxy.port} user={db['USER']} dbname={db['NAME']}",
        min_size=4,
        max_size=4,
        timeout=30,
        check=Pool.check_connection,
        open=True,
    )
    try:
        pool.wait(timeout=30)
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        proxy.cut()
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="refuses connections"):
            pool.getconn()
        assert time.monotonic() - started < 5
        assert pool.refused is not None
    finally:
        pool.close(timeout=0)
        proxy.close()
