"""Cost of one rate-limit check: the token-bucket Lua script on Redis, and the in-memory bucket.

    REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/ratelimit.py --takes 5000

Reports the median and p99 microseconds of a sync take (HTTP path), an async take (the
gateway's path) and an in-memory take (the embedded default), and the median microseconds of a
blacklist/whitelist lookup from the process's snapshot. Keys are under parley:bucket:bench-*.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def summary(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    print(f"{name:<28} median {statistics.median(ordered):8.1f} us   p99 {p99:8.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--takes", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()
    from django.conf import settings

    from protection.buckets import Rate, TokenBucket
    from protection.rules import AddressLists, Rule
    from protection.state import protection_state

    bucket = TokenBucket("bench", Rate.parse("1000000/s:1000000"))

    def timed(call) -> list[float]:  # type: ignore[no-untyped-def]
        samples = []
        for n in range(args.takes):
            started = time.perf_counter()
            call(n)
            samples.append((time.perf_counter() - started) * 1e6)
        return samples

    if settings.REDIS_URL:
        summary("redis take (sync)", timed(lambda n: bucket.take(f"bench-{n % 100}")))

        async def async_takes() -> list[float]:
            samples = []
            for n in range(args.takes):
                started = time.perf_counter()
                await bucket.atake(f"bench-{n % 100}")
                samples.append((time.perf_counter() - started) * 1e6)
            return samples

        summary("redis take (async)", asyncio.run(async_takes()))
    rate = Rate.parse("1000000/s:1000000")
    memory = protection_state().buckets.memory
    summary("memory take", timed(lambda n: memory.take(f"bench-{n % 100}", rate, 1)))
    import ipaddress

    rules = tuple(
        Rule(ipaddress.ip_network(f"10.{n // 256}.{n % 256}.0/24"), None) for n in range(1000)
    )
    lists = AddressLists("bench", rules, ())
    summary("lookup, 1000 entries", timed(lambda n: lists.blacklisted(f"198.51.100.{n % 250}")))


if __name__ == "__main__":
    main()
