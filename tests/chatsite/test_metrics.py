"""/metrics: protected, and Parley's counters move as a scripted session says they should."""

import asyncio
import json
from pathlib import Path

import pytest
from channels.db import database_sync_to_async as db
from django.test import AsyncClient, Client

import realtime
from chatsite import metrics
from chatsite.celery import app
from tests.chatsite.metrics_scrape import delta, parse, value
from tests.factories import access_token, make_direct, make_group, make_user
from tests.ws import close_code, open_socket, ready_socket, receive_until


async def scrape() -> dict:
    response = await AsyncClient().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


async def scrape_until(condition, wait: float = 10) -> dict:
    """Scrapes until `condition(metrics)` holds: a socket is counted once its handshake has
    finished, a moment after its ready frame (presence is set up in between)."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        scraped = await scrape()
        if condition(scraped) or asyncio.get_running_loop().time() > deadline:
            return scraped
        await asyncio.sleep(0.05)


def send(conversation: int, client_msg_id: str, body: str) -> str:
    return json.dumps(
        {"type": "send", "conversation": conversation, "client_msg_id": client_msg_id, "body": body}
    )


@pytest.mark.django_db(transaction=True)
async def test_a_scripted_session_moves_the_counters():
    alice, bob, carol = [await db(make_user)(name) for name in ("alice", "bob", "carol")]
    direct = await db(make_direct)(alice, bob)
    group = await db(make_group)(bob, alice, carol)
    before = await scrape()

    a, _ = await ready_socket(alice)
    b, _ = await ready_socket(bob)
    live = await scrape_until(lambda s: delta(s, before, "parley_websocket_connections") >= 2)
    assert delta(live, before, "parley_websocket_connections") == 2

    # Two refused handshakes: no credentials, and a token from a page of another origin.
    stranger = await open_socket(None)
    assert await close_code(stranger) == 4401
    cross_site = await open_socket(
        headers=[
            (b"authorization", f"Bearer {access_token(alice)}".encode()),
            (b"origin", b"https://evil.example"),
        ]
    )
    assert await close_code(cross_site) == 4403

    await a.send_to(text_data=send(direct.pk, "m-1", "hello"))
    _, ack = await receive_until(a, "ack")
    assert ack["duplicate"] is False
    await a.send_to(text_data=send(direct.pk, "m-1", "hello"))  # a retry: stored once
    _, again = await receive_until(a, "ack")
    assert again["duplicate"] is True
    await a.send_to(text_data=json.dumps({"type": "shout"}))
    assert (await receive_until(a, "error"))[1]["code"] == "bad_request"
    await a.send_to(text_data="{not json")
    assert (await receive_until(a, "error"))[1]["code"] == "bad_request"
    await a.send_to(text_data=json.dumps({"type": "ping"}))
    await receive_until(a, "pong")
    await a.send_to(text_data=send(999_999, "m-2", "nowhere"))
    assert (await receive_until(a, "error"))[1]["code"] == "not_found"

    # REST: the same send path, into the group.
    response = await AsyncClient().post(
        f"/api/conversations/{group.pk}/messages/",
        {"client_msg_id": "r-1", "body": "over REST"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {access_token(bob)}"},
    )
    assert response.status_code == 201
    assert (await receive_until(b, "message"))[1]["body"] in {"hello", "over REST"}

    await a.disconnect()
    await b.disconnect()
    after = await scrape()

    assert delta(after, before, "parley_websocket_connections") == 0
    assert delta(after, before, "parley_websocket_handshakes_total", outcome="accepted") == 2
    assert delta(after, before, "parley_websocket_handshakes_total", outcome="unauthorized") == 1
    assert delta(after, before, "parley_websocket_handshakes_total", outcome="forbidden") == 1
    assert delta(after, before, "parley_websocket_frames_in_total", type="send") == 3
    assert delta(after, before, "parley_websocket_frames_in_total", type="ping") == 1
    assert delta(after, before, "parley_websocket_frames_in_total", type="unknown") == 1
    assert delta(after, before, "parley_websocket_frames_in_total", type="invalid") == 1
    assert delta(after, before, "parley_websocket_error_frames_total", code="bad_request") == 2
    assert delta(after, before, "parley_websocket_error_frames_total", code="not_found") == 1
    assert delta(after, before, "parley_messages_stored_total", kind="direct") == 1
    assert delta(after, before, "parley_messages_stored_total", kind="group") == 1
    # Both acks (the duplicate too) were timed; two messages were fanned out after commit.
    assert delta(after, before, "parley_ack_latency_seconds_count") == 2
    assert delta(after, before, "parley_ack_latency_seconds_bucket", le="+Inf") == 2
    assert delta(after, before, "parley_fanout_latency_seconds_count", event="message") == 2
    assert value(after, "parley_channel_layer_send_failures_total") == 0
    # django-prometheus's HTTP metrics count the REST call too.
    assert delta(after, before, "django_http_responses_total_by_status_total", status="201") >= 1


@app.task(name="tests.metrics.divide")
def divide(a: int, b: int) -> float:
    return a / b


def test_celery_task_durations_and_failures_are_counted(client):
    before = parse(client.get("/metrics").content.decode())
    assert divide.apply(args=(1, 2)).get() == 0.5
    # As a worker runs it: the failure is recorded, not raised into the caller.
    failed = divide.apply(args=(1, 0), throw=False)
    assert failed.state == "FAILURE"
    after = parse(client.get("/metrics").content.decode())
    name = "tests.metrics.divide"
    assert delta(after, before, "parley_celery_task_duration_seconds_count", task=name) == 2
    assert delta(after, before, "parley_celery_task_failures_total", task=name) == 1


def test_the_feature_counters_of_other_issues_are_exposed(client):
    before = parse(client.get("/metrics").content.decode())
    metrics.ratelimit_refused(scope="ws_send")
    metrics.presence_changed(status="online")
    metrics.heartbeat_timed_out()
    metrics.push_notified(backend="webhook", outcome="sent")
    after = parse(client.get("/metrics").content.decode())
    assert delta(after, before, "parley_ratelimit_refusals_total", scope="ws_send") == 1
    assert delta(after, before, "parley_presence_changes_total", status="online") == 1
    assert delta(after, before, "parley_heartbeat_timeouts_total") == 1
    assert (
        delta(after, before, "parley_push_notifications_total", backend="webhook", outcome="sent")
        == 1
    )


@pytest.mark.django_db(transaction=True)
async def test_a_heartbeat_timeout_close_is_counted():
    alice = await db(make_user)("alice")
    before = await scrape()
    a, _ = await ready_socket(alice)
    # The server closes the socket with the heartbeat-timeout code (issue 3's watchdog).
    await db(realtime.close_user_sockets)(alice.pk, metrics.HEARTBEAT_TIMEOUT_CLOSE_CODE)
    assert await close_code(a) == 4408
    after = await scrape()
    assert delta(after, before, "parley_heartbeat_timeouts_total") == 1


def test_metrics_are_refused_outside_the_allowed_networks(settings):
    settings.PARLEY_METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    settings.PARLEY_METRICS_TOKEN = "s3cret-scrape-token"
    client = Client()
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    granted = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert granted.status_code == 200
    assert b"parley_websocket_connections" in granted.content
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_no_token_configured_means_networks_only(settings):
    settings.PARLEY_METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    settings.PARLEY_METRICS_TOKEN = ""
    assert Client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403


def test_every_metric_is_documented():
    text = (Path(metrics.__file__).parent.parent / "docs" / "operations.md").read_text()
    for collector in vars(metrics).values():
        name = getattr(collector, "_name", None)
        if isinstance(name, str) and name.startswith("parley_"):
            assert f"`{name}" in text, name


FORWARDING_HEADERS = [
    {"HTTP_X_FORWARDED_FOR": "203.0.113.9"},
    {"HTTP_X_FORWARDED_FOR": "127.0.0.1"},  # a client may claim loopback: still not enough
    {"HTTP_X_REAL_IP": "203.0.113.9"},
    {"HTTP_FORWARDED": "for=203.0.113.9;proto=https"},
]


@pytest.mark.parametrize("headers", FORWARDING_HEADERS)
def test_a_request_forwarded_by_a_local_proxy_needs_the_token(settings, headers):
    # nginx on the same host: every request reaches Parley from 127.0.0.1, which the default
    # allow-list contains. The forwarding header shows it came from elsewhere.
    settings.PARLEY_METRICS_TOKEN = "s3cret-scrape-token"
    client = Client(REMOTE_ADDR="127.0.0.1")
    refused = client.get("/metrics", **headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    granted = client.get(
        "/metrics", **headers, headers={"Authorization": "Bearer s3cret-scrape-token"}
    )
    assert granted.status_code == 200


def test_a_trusted_proxy_peer_needs_the_token_even_without_forwarding_headers(settings):
    settings.PARLEY_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.PARLEY_METRICS_TOKEN = ""
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403


def test_a_forwarded_client_inside_the_allowed_networks_still_needs_the_token(settings):
    settings.PARLEY_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.PARLEY_METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "127.0.0.0/8"]
    settings.PARLEY_METRICS_TOKEN = "s3cret-scrape-token"
    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert client.get("/metrics").status_code == 403
    authorized = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert authorized.status_code == 200


def test_a_direct_scrape_from_an_allowed_network_needs_no_token(settings):
    settings.PARLEY_TRUSTED_PROXIES = ["10.0.0.5"]
    settings.PARLEY_METRICS_TOKEN = "s3cret-scrape-token"
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
