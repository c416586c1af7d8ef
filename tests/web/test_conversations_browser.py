# ruff: noqa: F811 (pytest fixtures imported from test_browser.py)
"""Issue 17 in the browser: one user story per test (fixtures from test_browser.py)."""

import pytest
from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Account
from tests.web.test_browser import (  # noqa: F401 (fixtures)
    base_url,
    browser,
    conversation_row,
    env,
    open_page,
    write,
)

pytestmark = pytest.mark.django_db(transaction=True)
expect.set_options(timeout=WAIT_MS)


def test_mention_autocomplete_and_markdown(open_page, base_url):
    alice = Account.register(base_url, "alice")
    bob = Account.register(base_url, "bob")
    group = alice.call("POST", "/api/groups/", {"name": "design", "members": [bob.id]})
    on_alice, on_bob = open_page(alice), open_page(bob)

    conversation_row(on_alice, "design").get_by_role("button").click()
    box = on_alice.get_by_label("Message", exact=True)
    box.press_sequentially("look @" + bob.username[:3])
    option = on_alice.get_by_role("option", name=f"@{bob.username}")
    expect(option).to_be_visible()
    box.press("Enter")  # picks the member, does not send
    expect(box).to_have_value(f"look @{bob.username} ")
    box.press_sequentially("at **this** and `code` <b>raw</b>")
    box.press("Enter")

    # Bob sees the @ badge, then the message rendered, his mention marked.
    row = conversation_row(on_bob, "design")
    expect(row.locator(".mention-badge")).to_have_text("@")
    row.get_by_role("button").click()
    message = on_bob.locator("#messages li.message").filter(has_text="look")
    expect(message).to_have_class("message mentioned")
    expect(message.locator(".body strong")).to_have_text("this")
    expect(message.locator(".body code")).to_have_text("code")
    expect(message.locator(".body")).to_contain_text("<b>raw</b>")
    expect(message.locator(".body b")).to_have_count(0)
    expect(message.locator(".body .mention.mention-me")).to_have_text(f"@{bob.username}")
    expect(row.locator(".mention-badge")).to_have_count(0)
    assert group["id"]
