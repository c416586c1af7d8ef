"""Profiles in the browser: the settings page changes name, status and picture, and a contact's
open chat shows them live (Chromium via Playwright against a live daphne)."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Account, conversation_row, screenshot

pytestmark = pytest.mark.django_db(transaction=True)
expect.set_options(timeout=WAIT_MS)


def test_a_profile_set_in_settings_reaches_a_contact_live(open_page, base_url, tmp_path):
    alice = Account.register(base_url, "alice")
    bob = Account.register(base_url, "bob")
    conversation = alice.direct_with(bob)
    alice.send(conversation, "Hello Bob")
    bob.send(conversation, "Hi Alice")  # both wrote: they are contacts
    on_bob = open_page(bob)
    conversation_row(on_bob, alice.username).get_by_role("button").click()
    expect(on_bob.locator("#messages li.message").first).to_be_visible()

    on_alice = open_page(alice)
    on_alice.get_by_role("link", name="Settings").click()
    expect(on_alice.locator("body")).to_have_attribute("data-loaded", "1")
    on_alice.get_by_label("Display name").fill("Alice Liddell 🐇")
    on_alice.get_by_label("Status", exact=True).fill("Down the rabbit hole")
    on_alice.get_by_label("Time zone").fill("Europe/London")
    on_alice.get_by_role("button", name="Save profile").click()
    expect(on_alice.locator("#profile-note")).to_have_text("Profile saved")
    picture = tmp_path / "me.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (320, 200), (30, 120, 200)).save(buffer, format="JPEG")
    picture.write_bytes(buffer.getvalue())
    on_alice.get_by_label("Upload a picture").set_input_files(str(picture))
    expect(on_alice.locator("#avatar-note")).to_have_text("Picture updated")
    expect(on_alice.locator("#avatar-preview img")).to_be_visible()
    screenshot(on_alice, "settings")

    # Bob's open page learns it live: the sidebar, the senders and the picture.
    expect(on_bob.locator("#conversation-list .conversation-title")).to_have_text(
        "Alice Liddell 🐇"
    )
    sender = on_bob.locator("#messages li.message").filter(has_text="Hello Bob")
    expect(sender.locator(".sender")).to_have_text("Alice Liddell 🐇")
    expect(sender.locator("img.avatar-img")).to_have_attribute(
        "src", re.compile(r"^/avatars/\w+/64\.webp$")
    )
    sender.locator(".sender").click()
    card = on_bob.locator("#user-card")
    expect(card).to_contain_text(f"@{alice.username}")
    expect(card).to_contain_text("Down the rabbit hole")
    expect(card).to_contain_text("Europe/London")
    screenshot(on_bob, "user-card")


def test_notification_settings_in_the_browser(open_page, base_url):
    alice = Account.register(base_url, "alice")
    bob = Account.register(base_url, "bob")
    conversation = alice.direct_with(bob)
    page = open_page(alice)
    page.goto("/settings/")
    expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    page.get_by_label("Quiet hours from").fill("22:00")
    page.get_by_label("Quiet hours until").fill("07:00")
    page.get_by_role("button", name="Save notifications").click()
    expect(page.locator("#notify-note")).to_have_text("Notifications saved")
    page.get_by_label(bob.username, exact=True).select_option("mentions")
    expect(page.locator("#notify-note")).to_have_text(f"Saved for {bob.username}")
    prefs = alice.call("GET", "/api/me/notifications/")
    assert (prefs["quiet_hours_start"], prefs["quiet_hours_end"]) == ("22:00:00", "07:00:00")
    membership = alice.call("GET", f"/api/conversations/{conversation}/membership/")
    assert (membership["notify"], membership["muted"]) == ("mentions", False)


def totp_now(secret: str) -> str:
    import base64
    import time

    from django_otp.oath import TOTP

    totp = TOTP(base64.b32decode(secret))
    totp.time = time.time()
    return f"{totp.token():06d}"


def test_two_factor_login_in_the_browser(open_page, base_url):
    from tests.web.browser import PASSWORD

    alice = Account.register(base_url, "alice")
    page = open_page(alice)
    page.goto("/settings/")
    expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    page.get_by_role("button", name="Turn on two-factor login").click()
    secret = page.locator("#twofactor-secret")
    expect(secret).not_to_be_empty()
    expect(page.get_by_role("img", name="QR code of the two-factor secret")).to_be_visible()
    page.get_by_label("Code from the app").fill(totp_now(secret.inner_text()))
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#twofactor-code-list li")).to_have_count(10)
    screenshot(page, "two-factor")

    context = page.context.browser.new_context(base_url=base_url)
    fresh = context.new_page()
    fresh.goto("/login/")
    fresh.get_by_label("Username").fill(alice.username)
    fresh.get_by_label("Password").fill(PASSWORD)
    fresh.get_by_role("button", name="Log in").click()
    expect(fresh).to_have_url(re.compile("/login/otp/$"))
    recovery = page.locator("#twofactor-code-list li").first.inner_text()
    fresh.get_by_label("Code from your authenticator app (or a recovery code)").fill(recovery)
    fresh.get_by_role("button", name="Verify").click()
    expect(fresh.locator("#banner")).to_have_attribute("data-state", "online")
    context.close()

    # The same form now turns it off (it knows two-factor login is on), with another code.
    expect(page.get_by_role("button", name="Turn off")).to_be_visible()
    other = page.locator("#twofactor-code-list li").nth(1).inner_text()
    page.get_by_label("Code (or a recovery code) to turn it off").fill(other)
    page.get_by_role("button", name="Turn off").click()
    expect(page.locator("#twofactor-note")).to_have_text("Two-factor login is off")
    expect(page.locator("#twofactor-state")).to_have_text("Off: a password alone logs you in.")
