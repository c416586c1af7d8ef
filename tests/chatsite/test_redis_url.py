"""The one reader of Redis addresses: plain URLs pass through, Sentinel ones become the shape
each client library wants (redis-py, channels_redis, kombu)."""

import pytest

from chatsite import redis_url
from chatsite.redis_url import RedisUrlError, SentinelTarget


def test_a_sentinel_address_names_its_sentinels_master_and_database():
    target = redis_url.parse_sentinel(
        "redis+sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2,10.0.0.3:26380/mymaster/3"
    )
    assert target == SentinelTarget(
        sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26379), ("10.0.0.3", 26380)),
        master_name="mymaster",
        db=3,
        password="s@cret",
    )
    assert redis_url.describe("redis+sentinel://:x@h:1/m/3") == "redis+sentinel://h:1/m/3"


def test_the_database_defaults_to_0():
    assert redis_url.parse_sentinel("redis+sentinel://h:26379/main").db == 0


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel:///mymaster/0",  # no sentinel
        "redis+sentinel://h:26379",  # no master name
        "redis+sentinel://h:26379/m/x",  # db not a number
        "redis+sentinel://h:port/m/0",
        "http://h:6379/0",
    ],
)
def test_a_bad_address_is_refused_with_a_reason(url):
    with pytest.raises(RedisUrlError):
        redis_url.validate(url)


def test_plain_urls_are_used_as_they_are():
    url = "redis://127.0.0.1:6379/4"
    assert redis_url.validate(url) == url
    assert redis_url.channel_layer_host(url, max_connections=5) == {
        "address": url,
        "max_connections": 5,
    }
    assert redis_url.celery_broker(url) == (url, {})


def test_each_library_gets_the_sentinels_in_its_own_shape():
    url = "redis+sentinel://:pw@a:26379,b:26379/mymaster/2"
    host = redis_url.channel_layer_host(url, max_connections=5)
    assert host["sentinels"] == [("a", 26379), ("b", 26379)]
    assert (host["master_name"], host["db"], host["password"]) == ("mymaster", 2, "pw")
    assert host["max_connections"] == 5
    broker, options = redis_url.celery_broker(url)
    assert broker == "sentinel://:pw@a:26379/2;sentinel://:pw@b:26379/2"
    assert options == {"master_name": "mymaster", "sentinel_kwargs": {"password": "pw"}}
    client = redis_url.sync_client(url)
    assert client.connection_pool.service_name == "mymaster"


def test_a_list_of_shards_keeps_each_sentinel_address_whole():
    raw = "redis+sentinel://a:26379,b:26379/one/0, redis://c:6379/1,redis+sentinel://d/two"
    assert redis_url.split_urls(raw) == [
        "redis+sentinel://a:26379,b:26379/one/0",
        "redis://c:6379/1",
        "redis+sentinel://d/two",
    ]
    assert redis_url.split_urls("") == []
