"""Files, images and link previews in the browser (static/parley/attachments.js, previews.js):
one story each."""

import contextlib
import io

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.conftest import REAL_SERVICES
from tests.previews.site import Site
from tests.web.browser import WAIT_MS, Account, conversation_row, screenshot, server_env, write
from tests.workers import celery_worker

# The browser tests' fixtures (tests/web/conftest.py) with this module's own `env` below.

pytestmark = pytest.mark.django_db(transaction=True)
expect.set_options(timeout=WAIT_MS)

MAX_BYTES = 300_000


@pytest.fixture(scope="module")
def env(django_db_setup, tmp_path_factory):
    """The live server, with its files in a temporary folder and a small size limit."""
    return {
        **server_env(tmp_path_factory.mktemp("parley-var")),
        "PARLEY_MEDIA_ROOT": str(tmp_path_factory.mktemp("parley-media")),
        "PARLEY_UPLOAD_MAX_BYTES": str(MAX_BYTES),
        "PARLEY_LINK_PREVIEWS_ALLOW_LOOPBACK": "1",
    }


def picture() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), (30, 140, 90)).save(out, format="PNG")
    return out.getvalue()


def test_sending_a_picture_and_a_file_and_seeing_them_on_the_other_side(open_page, base_url):
    alice = Account.register(base_url, "alice")
    bob = Account.register(base_url, "bob")
    alice.direct_with(bob)
    on_alice, on_bob = open_page(alice), open_page(bob)
    conversation_row(on_alice, bob.username).get_by_role("button").click()

    # Too large: a clear error, nothing in the tray.
    picker = on_alice.locator("#composer input[type=file]")
    picker.set_input_files(
        [
            {
                "name": "huge.bin",
                "mimeType": "application/octet-stream",
                "buffer": b"\0" * (MAX_BYTES + 1),
            }
        ]
    )
    expect(on_alice.locator(".attachment-error")).to_contain_text("“huge.bin” is too large")
    expect(on_alice.locator(".attachment-item")).to_have_count(0)

    # A picture and a text file: chips with progress, then ready; sent with a caption.
    picker.set_input_files(
        [
            {"name": "garden.png", "mimeType": "image/png", "buffer": picture()},
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"bring snacks\n"},
        ]
    )
    expect(on_alice.locator(".attachment-item[data-status=ready]")).to_have_count(2)
    expect(on_alice.locator(".attachment-error")).to_have_text("")
    write(on_alice, "from the weekend")
    expect(on_alice.locator(".attachment-item")).to_have_count(0)

    conversation_row(on_bob, alice.username).get_by_role("button").click()
    message = on_bob.locator("#messages li.message").filter(has_text="from the weekend")
    thumbnail = message.locator(".attachment.image img")
    expect(thumbnail).to_have_attribute("alt", "garden.png")
    expect(thumbnail).to_have_js_property("complete", True)
    assert thumbnail.evaluate("img => img.naturalWidth") > 0  # the thumbnail really loaded
    chip = message.locator(".file-chip")
    expect(chip).to_contain_text("notes.txt")
    expect(chip).to_contain_text("13 B")

    # The lightbox shows the full picture.
    thumbnail.click()
    dialog = on_bob.locator("dialog.lightbox")
    expect(dialog).to_be_visible()
    expect(dialog.locator("img")).to_have_attribute("alt", "garden.png")
    expect(dialog.locator("img")).to_have_js_property("naturalWidth", 320)
    screenshot(on_bob, "uploads-lightbox")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # The file downloads for Bob, with its name.
    with on_bob.expect_download() as download:
        chip.click()
    assert download.value.suggested_filename == "notes.txt"


def test_a_link_in_a_message_shows_a_preview_card(open_page, base_url, env):
    site = Site()  # a web page on loopback (the server opts loopback in, test-only setting)
    # PostgreSQL + Redis: a real worker fetches; the embedded default fetches in the server.
    worker = celery_worker(env, name="previews") if REAL_SERVICES else contextlib.nullcontext()
    try:
        with worker:
            alice = Account.register(base_url, "alice")
            bob = Account.register(base_url, "bob")
            alice.direct_with(bob)
            on_alice, on_bob = open_page(alice), open_page(bob)
            conversation_row(on_bob, alice.username).get_by_role("button").click()
            conversation_row(on_alice, bob.username).get_by_role("button").click()
            write(on_alice, f"the photos: {site.url}/page")
            card = on_bob.locator("#messages li.message .link-preview")
            expect(card.locator(".link-preview-title")).to_have_text("The Garden & the Shed")
            expect(card.locator(".link-preview-description")).to_have_text(
                "Pictures from the weekend."
            )
            expect(card.get_by_role("link")).to_have_attribute("href", f"{site.url}/page")
            expect(on_alice.locator("#messages li.message .link-preview")).to_have_count(1)
    finally:
        site.close()
    assert site.paths == ["/page"]
