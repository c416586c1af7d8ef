"""Pins, reactions and earlier versions in the browser (pins.js, reactions.js): the row actions,
their popovers and the picker, seen by both people of a chat (Chromium via Playwright against a
live daphne). docs/ui.md, "Layers": these views keep their popovers in their own closures."""

import pytest
from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Account, conversation_row, write

pytestmark = pytest.mark.django_db(transaction=True)
expect.set_options(timeout=WAIT_MS)


def test_pins_reactions_and_earlier_versions(open_page, base_url):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    alice.direct_with(bob)
    on_alice, on_bob = open_page(alice), open_page(bob)
    for page, other in ((on_alice, bob), (on_bob, alice)):
        conversation_row(page, other.username).get_by_role("button").click()
    write(on_alice, "pin me")
    expect(on_bob.locator("#messages li.message")).to_have_count(1)

    # Pin: the 📌 mark reaches both; "📌 Pinned" lists it; Escape closes the list.
    row = on_alice.locator("#messages li.message").first
    row.hover()
    row.get_by_role("button", name="Pin this message").click()
    for page in (on_alice, on_bob):
        expect(page.locator("#messages li.message .pin-mark")).to_have_count(1)
    on_bob.get_by_role("button", name="📌 Pinned").click()
    pinned = on_bob.get_by_role("dialog", name="Pinned messages")
    expect(pinned).to_contain_text("pin me")
    on_bob.keyboard.press("Escape")
    expect(pinned).to_have_count(0)
    # A click elsewhere closes it too.
    on_bob.get_by_role("button", name="📌 Pinned").click()
    expect(pinned).to_be_visible()
    on_bob.locator("#history").click(position={"x": 5, "y": 5})
    expect(pinned).to_have_count(0)

    # Reactions: the picker adds one, both see the count, a click on it takes it back.
    bob_row = on_bob.locator("#messages li.message").first
    bob_row.get_by_role("button", name="Add a reaction").click()
    picker = on_bob.get_by_role("dialog", name="Pick a reaction")
    expect(picker.get_by_label("Search emoji")).to_be_focused()
    picker.get_by_role("option", name="🎉").click()
    expect(picker).to_have_count(0)
    for page in (on_alice, on_bob):
        expect(
            page.locator("#messages li.message button.reaction").filter(has_text="🎉 1")
        ).to_have_count(1)
    expect(bob_row.locator("button.reaction.mine")).to_have_attribute("aria-label", "🎉 1: you")
    bob_row.get_by_role("button", name="Add a reaction").click()
    expect(picker).to_be_visible()
    on_bob.keyboard.press("Escape")
    expect(picker).to_have_count(0)
    bob_row.locator("button.reaction.mine").click()
    for page in (on_alice, on_bob):
        expect(
            page.locator("#messages li.message button.reaction").filter(has_text="🎉")
        ).to_have_count(0)

    # Earlier versions behind "(edited)".
    row.hover()
    row.get_by_role("button", name="Edit this message").click()
    box = on_alice.get_by_label("Message", exact=True)
    box.fill("pinned and fixed")
    box.press("Enter")
    edited = bob_row.get_by_role("button", name="Edited: show earlier versions")
    expect(edited).to_be_visible()
    edited.press("Enter")  # by keyboard: under the mouse, the row's toolbar covers it
    versions = on_bob.get_by_role("dialog", name="Earlier versions")
    expect(versions).to_contain_text("pin me")
    on_bob.keyboard.press("Escape")
    expect(versions).to_have_count(0)
