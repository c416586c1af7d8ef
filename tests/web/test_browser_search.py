"""Message search in the browser: the search box, highlighted results grouped by conversation,
and a click that opens the conversation at the message (history loaded around it)."""

import re

import pytest
from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Account, screenshot

pytestmark = pytest.mark.django_db(transaction=True)
expect.set_options(timeout=WAIT_MS)


def test_search_highlights_matches_and_opens_the_conversation_at_the_message(
    open_page,
    base_url,
):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    carol = Account.register(base_url, "carol")
    direct = alice.direct_with(bob)
    for n in range(1, 5):
        alice.send(direct, f"warm-up {n}")
    found = alice.send(direct, "the <b>quarterly</b> numbers & forecast are in")
    # Enough later messages that the found one is not on the newest page.
    for n in range(1, 71):
        alice.send(direct, f"later chatter {n}")
    other = carol.direct_with(bob)
    carol.send(other, "my quarterly review is tomorrow")
    alice.send(carol.direct_with(alice), "quarterly secret between alice and carol")

    on_bob = open_page(bob)
    on_bob.locator("body").press("/")
    expect(on_bob.get_by_label("Search messages")).to_be_focused()
    on_bob.keyboard.type("quarterly")
    on_bob.keyboard.press("Enter")

    results = on_bob.locator("#search-results")
    groups = results.locator("li.search-group")
    expect(groups).to_have_count(2)  # bob's two chats; alice and carol's is not his
    expect(groups.locator("h3")).to_have_text([carol.username, alice.username], use_inner_text=True)
    hit = groups.nth(1).locator("button.search-hit")
    expect(hit.locator("mark")).to_have_text("quarterly")
    # The message's own markup is shown as text, never as elements.
    expect(hit).to_contain_text("the <b>quarterly</b> numbers & forecast are in")
    expect(results.locator("b")).to_have_count(0)
    screenshot(on_bob, "search-results")

    hit.click()

    expect(on_bob.locator("#search-panel")).to_be_hidden()
    expect(on_bob.locator("#conversation-title")).to_have_text(alice.username)
    row = on_bob.locator(f'#messages li.message[data-seq="{found["seq"]}"]')
    expect(row).to_be_in_viewport()
    expect(row).to_have_class(re.compile(r"\bfound\b"))
    expect(row.locator(".body")).to_have_text("the <b>quarterly</b> numbers & forecast are in")
    # The conversation is whole from there to the newest message.
    expect(on_bob.locator("#messages li.message").last).to_contain_text("later chatter 70")
    seqs = on_bob.locator("#messages li.message").evaluate_all(
        "nodes => nodes.map(n => Number(n.dataset.seq))"
    )
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert seqs[0] <= found["seq"]

    # Ctrl+K searches again; the filter "only in this conversation" keeps to alice's chat.
    on_bob.keyboard.press("Control+k")
    expect(on_bob.get_by_label("Search messages")).to_be_focused()
    on_bob.locator("#search-here").check()
    expect(groups).to_have_count(1)
    expect(groups.locator("h3")).to_have_text(alice.username)


def test_search_on_a_phone_sized_screen_opens_the_chat_pane(open_page, base_url):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    direct = alice.direct_with(bob)
    alice.send(direct, "the boarding gate moved to B12")

    on_bob = open_page(bob, phone=True)
    box = on_bob.get_by_label("Search messages")
    expect(box).to_be_in_viewport()
    box.fill("gate")
    box.press("Enter")
    hit = on_bob.locator("#search-results button.search-hit")
    expect(hit.locator("mark")).to_have_text("gate")
    expect(hit).to_be_in_viewport()
    screenshot(on_bob, "search-phone")

    hit.click()

    expect(on_bob.locator("#conversation-title")).to_have_text(alice.username)
    expect(on_bob.locator("#messages li.message.found")).to_be_in_viewport()
