"""Issue 17 in the browser: one user story per test (fixtures from test_browser.py)."""

import re

import pytest
from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Account, conversation_row, write

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


def test_reply_thread_and_react(open_page, base_url):
    alice = Account.register(base_url, "alice")
    bob = Account.register(base_url, "bob")
    group = alice.call("POST", "/api/groups/", {"name": "launch", "members": [bob.id]})
    bob.send(group["id"], "Ship it on Friday?")
    on_alice, on_bob = open_page(alice), open_page(bob)

    # Alice replies from the message's menu.
    conversation_row(on_alice, "launch").get_by_role("button").click()
    # The first row with the text: replies quote it too.
    question = on_alice.locator("#messages li.message").filter(has_text="Ship it on Friday?").first
    question.get_by_role("button", name="Reply to this message").click()
    expect(on_alice.locator("#reply-bar")).to_contain_text("Replying to")
    write(on_alice, "Agreed")

    # Bob sees the quote; the root counts the reply; the thread opens in a side panel.
    conversation_row(on_bob, "launch").get_by_role("button").click()
    answer = on_bob.locator("#messages li.message").filter(has_text="Agreed")
    expect(answer.locator(".reply-quote")).to_contain_text("Ship it on Friday?")
    root = on_bob.locator("#messages li.message").filter(has_text="Ship it on Friday?").first
    root.get_by_role("button", name="1 reply").click()
    panel = on_bob.locator("#thread-panel")
    expect(panel.locator("li.message")).to_have_count(2)
    panel.get_by_label("Reply in thread").fill("Friday it is")
    panel.get_by_label("Reply in thread").press("Enter")
    expect(panel.locator("li.message")).to_have_count(3)
    expect(
        on_alice.locator("#messages li.message")
        .filter(has_text="Friday it is")
        .locator(".reply-quote")
    ).to_contain_text("Ship it on Friday?")
    expect(question.get_by_role("button", name="2 replies")).to_be_visible()

    # Alice reacts through the picker; Bob sees it and adds his.
    question.get_by_role("button", name="Add a reaction").click()
    on_alice.get_by_role("option", name="🎉").click()
    bobs_view = on_bob.locator("#messages li.message").filter(has_text="Ship it on Friday?").first
    reaction = bobs_view.locator("button.reaction", has_text="🎉")
    expect(reaction).to_have_text("🎉 1")
    expect(reaction).to_have_attribute("title", alice.username)
    reaction.click()
    expect(reaction).to_have_text("🎉 2")
    expect(reaction).to_have_attribute("aria-pressed", "true")
    expect(question.locator("button.reaction", has_text="🎉")).to_have_text("🎉 2")


def test_joining_a_group_by_invite_link(open_page, base_url):
    alice = Account.register(base_url, "alice")
    bob = Account.register(base_url, "bob")
    alice.call("POST", "/api/groups/", {"name": "guild", "members": []})
    on_alice, on_bob = open_page(alice), open_page(bob)

    # Alice copies an invite link from the group's details.
    conversation_row(on_alice, "guild").get_by_role("button").click()
    on_alice.get_by_role("button", name="Details").click()
    on_alice.get_by_role("button", name="Copy invite link").click()
    link = on_alice.get_by_label("Invite link")
    expect(link).to_have_value(re.compile(r"/invite/[A-Za-z0-9_-]{32,}/$"))
    url = link.input_value()

    # Bob opens it, sees the group's name, joins and lands in the group.
    on_bob.goto(url)
    expect(on_bob.locator("#invite-title")).to_have_text("guild")
    on_bob.get_by_role("button", name="Join guild").click()
    expect(on_bob.locator("#banner")).to_have_attribute("data-state", "online")
    row = conversation_row(on_bob, "guild")
    row.get_by_role("button").click()
    expect(on_bob.locator("#messages li.message.system").last).to_contain_text(
        f"{bob.username} joined"
    )
    # Alice sees him join.
    expect(on_alice.locator("#messages li.message.system").last).to_contain_text(
        f"{bob.username} joined"
    )
