"""Several server processes and a Celery worker on one host share PROMETHEUS_MULTIPROC_DIR:
/metrics on any one of them reports the host's totals."""

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
import websockets

from tests.chatsite.metrics_scrape import parse, value
from tests.chatsite.worker_tasks import add
from tests.conftest import postgres_env_for_subprocess
from tests.factories import access_token, make_direct, make_user
from tests.servers import ROOT, daphne, stop_process

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def scrape(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return parse(response.read().decode())


def wait_for(port: int, check, *, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError("the metrics never showed the expected values")
        time.sleep(0.2)


@contextlib.contextmanager
def celery_worker(env: dict[str, str]) -> Iterator[None]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "chatsite",
            "worker",
            "--pool=solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-I",
            "tests.chatsite.worker_tasks",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        stop_process(process, timeout=15)


def test_metrics_add_up_across_server_processes_and_a_worker(tmp_path):
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    env = postgres_env_for_subprocess()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)

    async def chat(port_a: int, port_b: int, check_live) -> None:
        def url(port: int, user) -> str:
            return f"ws://127.0.0.1:{port}/ws/?token={access_token(user)}"

        async with (
            websockets.connect(url(port_a, alice)) as on_a,
            websockets.connect(url(port_b, bob)) as on_b,
        ):
            for socket in (on_a, on_b):
                while json.loads(await socket.recv())["type"] != "ready":
                    pass
            for socket, conversation_msg in ((on_a, "a-1"), (on_b, "b-1")):
                await socket.send(
                    json.dumps(
                        {
                            "type": "send",
                            "conversation": direct.pk,
                            "client_msg_id": conversation_msg,
                            "body": "hi",
                        }
                    )
                )
                while json.loads(await socket.recv())["type"] != "ack":
                    pass
            await asyncio.to_thread(check_live)

    with daphne(env) as port_a, daphne(env) as port_b, celery_worker(env):

        def check_live() -> None:
            # One socket on each process: either process reports both.
            for port in (port_a, port_b):
                samples = scrape(port)
                assert value(samples, "parley_websocket_connections") == 2

        asyncio.run(chat(port_a, port_b, check_live))
        add.apply_async(args=(2, 3), queue="celery")

        samples = wait_for(
            port_b,
            lambda s: (
                value(s, "parley_celery_task_duration_seconds_count", task="tests.metrics.add") == 1
                and value(s, "parley_websocket_connections") == 0
            ),
        )
        assert value(samples, "parley_messages_stored_total", kind="direct") == 2
        assert value(samples, "parley_websocket_handshakes_total", outcome="accepted") == 2
        assert value(samples, "parley_ack_latency_seconds_count") == 2
        assert value(samples, "parley_websocket_frames_in_total", type="send") == 2
