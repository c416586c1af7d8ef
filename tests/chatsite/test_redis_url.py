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


@pytest.mark.parametrize(
    ("url", "db"),
    [
        ("redis://127.0.0.1:6379", 0),
        ("redis://127.0.0.1:6379/", 0),
        ("redis://127.0.0.1:6379/7", 7),
        ("rediss://:pw@h:6380/12", 12),
        ("redis://h:6379?db=4", 4),
        ("unix:///run/redis.sock?db=2", 2),
        ("redis+sentinel://h1:26379,h2/main/5", 5),
    ],
)
def test_the_database_number_of_an_address(url, db):
    assert redis_url.db_index(url) == db


@pytest.mark.parametrize(
    ("env", "prefix"),
    [
        ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, "parley"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/3"}, "parley.db3"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/3", "CHANNEL_LAYER_PREFIX": "acme"}, "acme.db3"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/3", "PARLEY_FANOUT_PREFIX": "x"}, "x"),
    ],
)
def test_deployments_on_other_databases_of_one_redis_do_not_share_fanout_channels(env, prefix):
    """Redis pub/sub ignores the database number: two Parleys on DB 0 and DB 3 of one server
    would deliver each other's conversation events unless their channel names differ."""
    import os
    import subprocess
    import sys

    from tests.servers import ROOT

    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "CHANNEL_LAYER_PREFIX", "PARLEY_FANOUT_PREFIX")
    }
    environment.update(env, DJANGO_SETTINGS_MODULE="chatsite.settings")
    printed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; print(settings.PARLEY_FANOUT_PREFIX)",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert printed == prefix
