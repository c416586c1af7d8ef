"""The one token-bucket implementation (Redis Lua script, or memory on the embedded default)."""

import asyncio
import threading
import time

import pytest

from protection.buckets import Rate, TokenBucket


@pytest.mark.parametrize(
    ("text", "per_second", "burst"),
    [("10/s:30", 10, 30), ("30/m:30", 0.5, 30), ("10/m", 10 / 60, 10), ("100/h", 100 / 3600, 100)],
)
def test_rates_parse(text, per_second, burst):
    rate = Rate.parse(text)
    assert rate.per_second == pytest.approx(per_second)
    assert rate.burst == burst


@pytest.mark.parametrize("text", ["", "10", "10/d", "0/s", "-1/s", "ten/s", "10/s:0"])
def test_bad_rates_are_rejected(text):
    with pytest.raises(ValueError, match="rate"):
        Rate.parse(text)


def test_a_burst_is_allowed_then_refused_with_the_wait_until_the_next_token():
    bucket = TokenBucket("t-burst", Rate.parse("1/m:3"))
    assert [bucket.take("k").allowed for _ in range(3)] == [True, True, True]
    refused = bucket.take("k")
    assert not refused.allowed
    assert 55 < refused.retry_after <= 60
    assert bucket.take("other").allowed  # keys have their own buckets


def test_tokens_refill_at_the_rate():
    bucket = TokenBucket("t-refill", Rate.parse("20/s:1"))
    assert bucket.take("k").allowed
    assert not bucket.take("k").allowed
    deadline = time.monotonic() + 5
    while not bucket.take("k").allowed:
        assert time.monotonic() < deadline, "the bucket never refilled"
        time.sleep(0.01)


def test_concurrent_takers_never_get_more_than_the_burst():
    bucket = TokenBucket("t-race", Rate.parse("1/h:25"))
    allowed = []

    def hammer():
        allowed.extend(v.allowed for v in (bucket.take("shared") for _ in range(10)))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 25
    assert len(allowed) == 80


def test_async_and_sync_takes_share_one_bucket():
    bucket = TokenBucket("t-mixed", Rate.parse("1/h:2"))
    assert bucket.take("k").allowed

    async def two():
        return [(await bucket.atake("k")).allowed for _ in range(2)]

    assert asyncio.run(two()) == [True, False]


@pytest.mark.postgres
def test_the_bucket_lives_in_redis_so_every_process_shares_it():
    import redis
    from django.conf import settings

    bucket = TokenBucket("t-shared", Rate.parse("1/h:2"))
    assert bucket.take("k").allowed
    client = redis.Redis.from_url(settings.REDIS_URL)
    state = client.hgetall("parley:bucket:t-shared:k")
    assert float(state[b"tokens"]) == pytest.approx(1, abs=0.01)
    assert 0 < client.pttl("parley:bucket:t-shared:k") <= 2 * 3600 * 1000 + 1000
