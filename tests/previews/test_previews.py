"""Link previews: fetched from a real HTTP server on loopback when the test opts loopback in,
and refused at every hop where the address is not public (SSRF)."""

import socket

import pytest
from channels.db import database_sync_to_async

from messaging.services import message_send
from previews.fetch import PreviewRefused, fetch_preview
from previews.services import links_in, message_previews_fetch
from tests.factories import make_direct, make_users
from tests.previews.site import Site
from tests.ws import ready_socket, receive, receive_until


@pytest.fixture
def site():
    running = Site()
    yield running
    running.close()


@pytest.fixture
def loopback_allowed(settings):
    settings.PARLEY_LINK_PREVIEWS_ALLOW_LOOPBACK = True


@pytest.fixture
def dns(monkeypatch):
    """The test's own DNS: {name: address}; other names go to the system resolver."""
    names: dict[str, str] = {}
    system = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            address = names[host]
            if ":" in address:
                return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return system(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def test_links_are_found_as_the_browser_links_them():
    body = "see https://example.org/a, and (http://example.net/b) and https://example.org/a."
    assert links_in(body) == ["https://example.org/a", "http://example.net/b"]
    assert links_in("no links, ftp://example.org/x") == []


def test_a_page_on_loopback_is_previewed_when_the_test_opts_loopback_in(site, loopback_allowed):
    preview = fetch_preview(f"{site.url}/page")
    assert preview is not None
    assert preview.title == "The Garden & the Shed"
    assert preview.description == "Pictures from the weekend."
    assert preview.image_url == f"{site.url}/images/garden.jpg"
    # Three redirects are followed; a fourth is not.
    assert fetch_preview(f"{site.url}/hop/2").title == "The Garden & the Shed"
    with pytest.raises(PreviewRefused, match="redirects"):
        fetch_preview(f"{site.url}/hop/3")
    with pytest.raises(PreviewRefused, match="not an HTML page"):
        fetch_preview(f"{site.url}/notes.txt")


def test_loopback_is_refused_by_default_and_nothing_is_requested(site, dns):
    dns["ipv6-loopback.example"] = "::1"
    with pytest.raises(PreviewRefused):
        fetch_preview(f"{site.url}/page")
    with pytest.raises(PreviewRefused, match="resolves to ::1, not a public address"):
        fetch_preview("https://ipv6-loopback.example/")
    # On the web ports too: the address itself is refused.
    for url in ("http://127.0.0.1/page", "http://[::1]/page", "https://[::ffff:127.0.0.1]/"):
        with pytest.raises(PreviewRefused, match="not a public address"):
            fetch_preview(url)
    assert site.paths == []


def test_a_redirect_to_the_metadata_service_is_refused(site, loopback_allowed):
    with pytest.raises(PreviewRefused, match=r"169\.254\.169\.254, not a public address"):
        fetch_preview(f"{site.url}/to-metadata")
    assert site.paths == ["/to-metadata"]


def test_a_name_resolving_to_a_private_address_is_refused(dns, loopback_allowed):
    dns["intranet.example"] = "10.0.0.1"
    dns["public.example"] = "93.184.215.14"
    with pytest.raises(PreviewRefused, match=r"resolves to 10\.0\.0\.1, not a public address"):
        fetch_preview("http://intranet.example/wiki")
    with pytest.raises(PreviewRefused, match="ports 80 and 443"):
        fetch_preview("http://public.example:6379/")
    with pytest.raises(PreviewRefused, match="credentials"):
        fetch_preview("http://user:secret@public.example/")
    with pytest.raises(PreviewRefused, match="http and https"):
        fetch_preview("file:///etc/passwd")


@pytest.mark.django_db
def test_previews_turned_off_fetch_nothing(site, loopback_allowed, settings):
    settings.PARLEY_LINK_PREVIEWS = False
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    url = f"{site.url}/page"
    ack = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body=url)
    stored = message_previews_fetch(
        message_id=int(ack["id"]), conversation_id=direct.pk, urls=[url]
    )
    assert stored == 0
    assert site.paths == []


@pytest.mark.django_db(transaction=True)
async def test_a_sent_link_gets_its_preview_live_and_in_history(
    site, loopback_allowed, settings, client_for
):
    # Fetched on the in-process thread of the embedded default, on both configurations.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    alice, bob = await database_sync_to_async(make_users)("alice", "bob")
    direct = await database_sync_to_async(make_direct)(alice, bob)
    b, _ = await ready_socket(bob)
    a, _ = await ready_socket(alice)
    await a.send_json_to(
        {
            "type": "send",
            "conversation": direct.pk,
            "client_msg_id": "link-1",
            "body": f"look: {site.url}/page",
        }
    )
    _, ack = await receive_until(a, "ack")
    message = await receive(b, "message")
    assert message["previews"] == []
    preview = await receive(b, "preview")
    assert preview == {
        "type": "preview",
        "conversation": direct.pk,
        "id": ack["id"],
        "seq": ack["seq"],
        "previews": [
            {
                "url": f"{site.url}/page",
                "title": "The Garden & the Shed",
                "description": "Pictures from the weekend.",
                "image_url": f"{site.url}/images/garden.jpg",
            }
        ],
    }
    history = await database_sync_to_async(
        lambda: client_for(bob).get(f"/api/conversations/{direct.pk}/messages/").json()
    )()
    assert history["results"][-1]["previews"] == preview["previews"]
    await a.disconnect()
    await b.disconnect()
