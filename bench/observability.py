"""Observability numbers on PostgreSQL + Redis: two daphne processes in multiprocess mode.

Sends N messages over one socket (each waits for its ack) while a second socket on the other
process receives them, then reports the client-measured ack round trip, the server's
parley_ack_latency_seconds histogram as scraped from /metrics, and the time /metrics, /readyz
and /healthz take to answer.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/parley_bench \\
    REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/observability.py --sends 500

The database is migrated first; users named bench-<random> are created in it.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed_get(url: str, times: int) -> float:
    """Median milliseconds of `times` GETs."""
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
                response.read()
        except urllib.error.HTTPError as error:
            error.read()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def histogram_quantile(buckets: dict[float, float], q: float) -> float:
    """Prometheus-style linear interpolation inside the bucket holding the q-th observation."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if bound == float("inf"):
                return lower_bound
            width = buckets[bound] - lower_count
            share = (rank - lower_count) / width if width else 0.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, buckets[bound]
    return lower_bound


async def chat(
    port_a: int, port_b: int, alice_token: str, bob_token: str, conversation: int, sends: int
) -> list[float]:
    """Alice sends `sends` messages through process A (each awaited to its ack: the round
    trip), Bob receives them through process B; through the Python SDK."""
    from parley_client import Client, Message

    alice = Client(f"ws://127.0.0.1:{port_a}", alice_token, reconnect=False)
    bob = Client(f"ws://127.0.0.1:{port_b}", bob_token, reconnect=False)
    received = 0
    all_received = asyncio.Event()

    def on_event(event: object) -> None:
        nonlocal received
        if isinstance(event, Message) and event.conversation == conversation:
            received += 1
            if received >= sends:
                all_received.set()

    bob.on(on_event)
    round_trips = []
    try:
        await alice.connect(timeout=30)
        await bob.connect(timeout=30)
        for n in range(sends):
            started = time.perf_counter()
            await alice.send(conversation, "bench", client_msg_id=f"b-{n}")
            round_trips.append((time.perf_counter() - started) * 1000)
        await asyncio.wait_for(all_received.wait(), 30)
    finally:
        await alice.close()
        await bob.close()
    return round_trips


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=500)
    args = parser.parse_args()
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        sys.exit("set DATABASE_URL and REDIS_URL")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
    )

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()
    from prometheus_client.parser import text_string_to_metric_families

    from tests.factories import access_token, make_direct, make_user
    from tests.servers import daphne

    tag = uuid.uuid4().hex[:8]
    alice, bob = make_user(f"bench-a-{tag}"), make_user(f"bench-b-{tag}")
    conversation = make_direct(alice, bob).pk
    with tempfile.TemporaryDirectory() as directory:
        env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory, LOG_LEVEL="WARNING")
        with daphne(env) as port_a, daphne(env) as port_b:
            round_trips = asyncio.run(
                chat(
                    port_a, port_b, access_token(alice), access_token(bob), conversation, args.sends
                )
            )
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port_a}/metrics", timeout=10
            ) as response:
                page = response.read().decode()
            metrics_ms = timed_get(f"http://127.0.0.1:{port_a}/metrics", 20)
            readyz_ms = timed_get(f"http://127.0.0.1:{port_a}/readyz", 20)
            healthz_ms = timed_get(f"http://127.0.0.1:{port_a}/healthz", 20)
            files = len(os.listdir(directory))
    buckets: dict[float, float] = {}
    fanout = 0.0
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == "parley_ack_latency_seconds_bucket":
                buckets[float(sample.labels["le"])] = sample.value
            if (
                sample.name == "parley_fanout_latency_seconds_count"
                and sample.labels.get("event") == "message"
            ):
                fanout = sample.value
    inf = buckets[float("inf")]
    p50, p99 = histogram_quantile(buckets, 0.5) * 1000, histogram_quantile(buckets, 0.99) * 1000
    print(f"sends: {args.sends} (two daphne processes, multiprocess metrics, {files} metric files)")
    print(
        f"client ack round trip ms: p50 {percentile(round_trips, 0.5):.2f}"
        f"  p99 {percentile(round_trips, 0.99):.2f}"
    )
    print(
        f"server parley_ack_latency_seconds (from /metrics) ms: p50 {p50:.2f}  p99 {p99:.2f}"
        f"  count {inf:.0f}  within 500 ms {buckets[0.5] / inf:.4f}"
    )
    print(f"fan-outs of messages counted: {fanout:.0f}")
    print(
        f"median ms: /metrics {metrics_ms:.2f}  /readyz {readyz_ms:.2f}  /healthz {healthz_ms:.2f}"
    )


if __name__ == "__main__":
    main()
