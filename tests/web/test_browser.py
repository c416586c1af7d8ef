"""The browser UI end to end: Debian's Chromium (Playwright) against a live daphne.

Users are registered over HTTP on the live server; the scene is set over its REST API where the
test is not about the UI doing it. Every page must pass the Content-Security-Policy and run
without script errors (checked after each test).
"""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.servers import daphne, free_port
from tests.web.browser import (
    PASSWORD,
    WAIT_MS,
    Account,
    PageWatch,
    bodies,
    conversation_row,
    log_in,
    screenshot,
    write,
)

pytestmark = pytest.mark.django_db(transaction=True)
expect.set_options(timeout=WAIT_MS)


def test_registering_in_the_browser_and_logging_out(browser, base_url):
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    watch = PageWatch(page)
    page.goto("/")
    expect(page).to_have_url(re.compile("/login/$"))
    screenshot(page, "login")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Username").fill("browser-newcomer")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#banner")).to_have_attribute("data-state", "online")
    expect(page.locator(".whoami")).to_contain_text("browser-newcomer")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile("/login/$"))
    page.goto("/")
    expect(page).to_have_url(re.compile("/login/$"))
    context.close()
    assert not watch.problems


def test_two_users_chat_both_ways(open_page, base_url):
    alice = Account.register(base_url, "alice")
    bob = Account.register(base_url, "bob")
    on_alice, on_bob = open_page(alice), open_page(bob)

    # Alice finds Bob by searching and starts the direct chat.
    on_alice.get_by_role("button", name="New chat").click()
    on_alice.get_by_label("Find people").fill(bob.username)
    on_alice.get_by_role("button", name=f"Chat with {bob.username}").click()
    expect(on_alice.locator("#conversation-title")).to_have_text(bob.username)
    write(on_alice, "Hello Bob")
    mine = on_alice.locator("#messages li.message.mine").filter(has_text="Hello Bob")
    expect(mine).to_have_attribute("data-status", re.compile("sent|delivered|read"))

    # Bob is told of the new chat live: preview and unread badge, then reads it.
    row = conversation_row(on_bob, alice.username)
    expect(row.locator(".conversation-preview")).to_have_text("Hello Bob")
    expect(row.locator(".badge")).to_have_text("1")
    row.get_by_role("button").click()
    received = on_bob.locator("#messages li.message").filter(has_text="Hello Bob")
    expect(received.locator(".sender")).to_have_text(alice.username)
    # A relative time, the exact one on hover.
    expect(received.locator("time")).to_have_text("just now")
    expect(received.locator("time")).to_have_attribute("title", re.compile(r"\d"))
    expect(row.locator(".badge")).to_have_count(0)
    # Bob has read it: Alice sees the read mark.
    expect(mine).to_have_attribute("data-status", "read")
    expect(mine.locator(".mark")).to_have_text("✓✓ Read")

    # Shift+Enter adds a line; Enter sends.
    box = on_bob.get_by_label("Message", exact=True)
    box.fill("Hi Alice")
    box.press("Shift+Enter")
    box.press_sequentially("two lines")
    box.press("Enter")
    reply = on_alice.locator("#messages li.message").filter(has_text="Hi Alice")
    expect(reply.locator(".body")).to_have_text("Hi Alice\ntwo lines")
    expect(reply.locator(".sender")).to_have_text(bob.username)
    expect(on_alice.locator("#messages li.day")).to_have_text(["Today"])
    # Alice's open, focused page reads Bob's reply at once: Bob sees his message read.
    bobs = on_bob.locator("#messages li.message.mine").filter(has_text="Hi Alice")
    expect(bobs).to_have_attribute("data-status", "read")
    # Presence: each sees the other online.
    dot = conversation_row(on_bob, alice.username).locator(".presence-dot.online")
    expect(dot).to_have_count(1)
    expect(on_bob.locator("#conversation-subtitle")).to_have_text("online")
    # Typing (relayed at most every 2 s per person: Alice typed her first message just now).
    on_alice.wait_for_timeout(2100)
    on_alice.get_by_label("Message", exact=True).press_sequentially("typing")
    expect(on_bob.locator("#typing")).to_have_text(f"{alice.username} is typing…")

    # Each message exactly once on both sides, in order.
    for page in (on_alice, on_bob):
        expect(page.locator("#messages li.message")).to_have_count(2)
        assert bodies(page) == ["Hello Bob", "Hi Alice\ntwo lines"]
    screenshot(on_alice, "chat")


def test_unread_badges_go_up_and_clear(open_page, base_url):
    alice, bob, carol = (Account.register(base_url, n) for n in ("alice", "bob", "carol"))
    with_alice = alice.direct_with(bob)
    carol.direct_with(bob)
    carol.send(carol.direct_with(bob), "a chat to look at meanwhile")
    on_bob = open_page(bob)
    alice_row = conversation_row(on_bob, alice.username)
    expect(alice_row).to_have_count(1)

    for n in range(3):
        alice.send(with_alice, f"unread {n}")
    expect(alice_row.locator(".badge")).to_have_text("3")
    expect(on_bob).to_have_title("(4) Parley")  # carol's message is unread too
    # Most recent activity first.
    expect(on_bob.locator("#conversation-list li .conversation-title").first).to_have_text(
        alice.username
    )
    expect(alice_row.locator(".conversation-preview")).to_have_text("unread 2")

    alice_row.get_by_role("button").click()
    expect(alice_row.locator(".badge")).to_have_count(0)
    expect(on_bob).to_have_title("(1) Parley")

    # While Bob looks at another chat, a new message counts again; opening it clears it.
    conversation_row(on_bob, carol.username).get_by_role("button").click()
    expect(on_bob).to_have_title("Parley")
    alice.send(with_alice, "one more")
    expect(alice_row.locator(".badge")).to_have_text("1")
    screenshot(on_bob, "unread")
    alice_row.get_by_role("button").click()
    expect(alice_row.locator(".badge")).to_have_count(0)
    expect(on_bob.locator("#messages li.message")).to_have_count(4)


def test_an_xss_payload_renders_as_text_and_links_are_clickable(open_page, base_url):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    alice.direct_with(bob)
    on_alice, on_bob = open_page(alice), open_page(bob)
    payloads = [
        '<img src=x onerror="window.__xss = 1">',
        "<script>window.__xss = 2</script>",
        '"><svg onload="window.__xss = 3">',
    ]
    conversation_row(on_alice, bob.username).get_by_role("button").click()
    for payload in payloads:
        write(on_alice, payload)
    write(on_alice, "docs at https://example.com/a?b=1&c=2, not javascript:alert(1)")

    conversation_row(on_bob, alice.username).get_by_role("button").click()
    expect(on_bob.locator("#messages li.message")).to_have_count(4)
    for page in (on_alice, on_bob):
        expect(page.locator("#messages li.message[data-seq]")).to_have_count(4)
        assert bodies(page)[:3] == payloads
        assert page.locator("#messages img, #messages script, #messages svg").count() == 0
        assert page.evaluate("window.__xss") is None
        links = page.locator("#messages a")
        expect(links).to_have_count(1)
        expect(links).to_have_attribute("href", "https://example.com/a?b=1&c=2")
        expect(links).to_have_attribute("rel", re.compile("noopener"))


def test_a_group_created_in_the_ui(open_page, base_url):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    on_alice, on_bob = open_page(alice), open_page(bob)

    on_alice.get_by_role("button", name="New group").click()
    dialog = on_alice.locator("#group-dialog")
    dialog.get_by_label("Group name").fill("Launch team")
    dialog.get_by_label("Add people").fill(bob.username)
    dialog.get_by_role("button", name=f"Add {bob.username}").click()
    expect(dialog.locator("#group-chosen")).to_contain_text(bob.username)
    dialog.get_by_role("button", name="Create group").click()
    expect(on_alice.locator("#conversation-title")).to_have_text("Launch team")
    write(on_alice, "Welcome to the team")

    row = conversation_row(on_bob, "Launch team")
    expect(row.locator(".conversation-preview")).to_have_text(
        f"{alice.username}: Welcome to the team"
    )
    row.get_by_role("button").click()
    message = on_bob.locator("#messages li.message").filter(has_text="Welcome to the team")
    expect(message.locator(".sender")).to_have_text(alice.username)
    write(on_bob, "Glad to be here")
    reply = on_alice.locator("#messages li.message").filter(has_text="Glad to be here")
    expect(reply).to_be_visible()

    # Alice (the owner) adds Carol from the group's details; Carol sees the group from her join.
    carol = Account.register(base_url, "carol")
    on_carol = open_page(carol)
    on_alice.get_by_role("button", name="Details").click()
    details = on_alice.locator("#details")
    expect(details.locator("#details-note")).to_have_text("Your role: owner")
    expect(details.locator("#member-list li")).to_have_count(2)
    details.get_by_label("Add a member").fill(carol.username)
    details.get_by_role("button", name=f"Add {carol.username}").click()
    expect(details.locator("#member-list li")).to_have_count(3)
    expect(details.locator(f'#member-list li[data-user-id="{carol.id}"] .role')).to_have_text(
        "member"
    )
    added = f"{alice.username} added {carol.username}"
    expect(on_alice.locator("#messages li.system")).to_contain_text([added])
    write(on_alice, "Hello Carol")

    carol_row = conversation_row(on_carol, "Launch team")
    expect(carol_row.locator(".conversation-preview")).to_have_text(
        f"{alice.username}: Hello Carol"
    )
    carol_row.get_by_role("button").click()
    expect(on_carol.locator("#messages li.message")).to_have_count(2)
    expect(on_carol.locator("#messages li.system")).to_contain_text([added])
    assert bodies(on_carol) == [added, "Hello Carol"]  # nothing from before she joined
    expect(on_carol.locator("#history-status")).to_have_text(
        "This is the beginning of the conversation."
    )
    screenshot(on_alice, "group")

    # Rename: everyone's sidebar follows.
    details.get_by_label("Group name").fill("Launch crew")
    details.get_by_role("button", name="Save", exact=True).click()
    for page in (on_alice, on_bob, on_carol):
        expect(conversation_row(page, "Launch crew")).to_have_count(1)


def test_group_read_marks_stay_when_the_readers_leave(open_page, base_url):
    alice, bob, carol, dave = (
        Account.register(base_url, n) for n in ("alice", "bob", "carol", "dave")
    )
    group = alice.call(
        "POST", "/api/groups/", {"name": "Readers", "members": [bob.id, carol.id, dave.id]}
    )["id"]
    seq = alice.send(group, "Minutes attached")["seq"]
    for reader in (bob, carol):
        reader.call("POST", f"/api/conversations/{group}/read/", {"seq": seq})
    on_alice = open_page(alice)
    conversation_row(on_alice, "Readers").get_by_role("button").click()
    mine = on_alice.locator("#messages li.message.mine").filter(has_text="Minutes attached")
    expect(mine).to_have_attribute("data-status", "read by 2")

    # One leaves, the other is removed: what they read stays read, live and after a reload.
    bob.call("POST", f"/api/groups/{group}/leave/")
    alice.call("DELETE", f"/api/groups/{group}/members/{carol.id}/")
    expect(on_alice.locator("#messages li.system")).to_have_count(2)
    expect(mine).to_have_attribute("data-status", "read by 2")
    on_alice.reload()
    conversation_row(on_alice, "Readers").get_by_role("button").click()
    expect(mine.locator(".mark")).to_have_text("✓✓ Read by 2")


# The test decides whether the tab is hidden, and sees the notifications the page shows.
HIDDEN_TAB = """
(() => {
  window.__hidden = false;
  window.__notifications = [];
  Object.defineProperty(document, "hidden", { get: () => window.__hidden });
  Object.defineProperty(document, "visibilityState", {
    get: () => (window.__hidden ? "hidden" : "visible"),
  });
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notifications.push({ title, body: options && options.body });
    }
  };
})();
"""


def test_notifications_while_the_tab_is_hidden(open_page, base_url):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    conversation = alice.direct_with(bob)
    on_bob = open_page(bob, init_script=HIDDEN_TAB)
    row = conversation_row(on_bob, alice.username)
    row.get_by_role("button").click()
    alice.send(conversation, "seen at once")
    expect(on_bob.locator("#messages li.message")).to_have_count(1)
    assert on_bob.evaluate("window.__notifications") == []  # visible: no notification

    on_bob.evaluate("window.__hidden = true; document.dispatchEvent(new Event('visibilitychange'))")
    alice.send(conversation, "while you were away")
    expect(on_bob.locator("#messages li.message")).to_have_count(2)
    notes = on_bob.evaluate("window.__notifications")
    assert notes == [{"title": alice.username, "body": "while you were away"}]
    # Not read while hidden: the badge stays until the tab is visible again.
    expect(row.locator(".badge")).to_have_text("1")
    on_bob.evaluate(
        "window.__hidden = false; document.dispatchEvent(new Event('visibilitychange'))"
    )
    expect(row.locator(".badge")).to_have_count(0)

    # The Web Push service worker loads under the page's policy (used when the server has a
    # VAPID key; a push service is out of reach of this test).
    registered = on_bob.evaluate(
        "navigator.serviceWorker.register(document.body.dataset.serviceWorker)"
        ".then(r => Boolean(r.installing || r.waiting || r.active))"
    )
    assert registered is True


def test_editing_and_deleting_own_messages(open_page, base_url):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    alice.direct_with(bob)
    on_alice, on_bob = open_page(alice), open_page(bob)
    for page, other in ((on_alice, bob), (on_bob, alice)):
        conversation_row(page, other.username).get_by_role("button").click()
    write(on_alice, "first draft")
    write(on_alice, "to be removed")
    expect(on_bob.locator("#messages li.message")).to_have_count(2)

    first = on_alice.locator("#messages li.message").filter(has_text="first draft")
    first.get_by_role("button", name="Edit this message").click()
    box = on_alice.get_by_label("Message", exact=True)
    expect(box).to_have_value("first draft")
    box.fill("final text")
    box.press("Enter")
    for page in (on_alice, on_bob):
        edited = page.locator("#messages li.message").first
        expect(edited.locator(".body")).to_have_text("final text")
        expect(edited.locator(".edited")).to_have_text("(edited)")

    on_alice.locator("#messages li.message").filter(has_text="to be removed").get_by_role(
        "button", name="Delete this message"
    ).click()
    # The page's own confirmation (not the browser's): focus starts on Cancel.
    confirm = on_alice.get_by_role("alertdialog", name="Delete this message?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Delete").click()
    for page in (on_alice, on_bob):
        expect(page.locator("#messages li.message.deleted .body")).to_have_text(
            "This message was deleted"
        )
        expect(page.locator("#messages")).not_to_contain_text("to be removed")
    # Bob cannot edit Alice's messages: no buttons on them.
    expect(on_bob.get_by_role("button", name="Edit this message")).to_have_count(0)


def test_history_pages_in_while_scrolling_up(open_page, base_url):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    conversation = alice.direct_with(bob)
    for n in range(1, 76):
        alice.send(conversation, f"old message {n}")
    # Read already (unread ones open at the first unread: test_ui_browser.py).
    bob.call("POST", f"/api/conversations/{conversation}/read/", {"seq": 75})
    on_bob = open_page(bob)
    conversation_row(on_bob, alice.username).get_by_role("button").click()
    expect(on_bob.locator("#messages li.message")).to_have_count(50)
    expect(on_bob.locator("#messages li.message").last).to_contain_text("old message 75")

    on_bob.locator("#history").evaluate("node => { node.scrollTop = 0; }")
    expect(on_bob.locator("#messages li.message")).to_have_count(75)
    expect(on_bob.locator("#history-status")).to_have_text(
        "This is the beginning of the conversation."
    )
    seqs = [
        int(s)
        for s in on_bob.locator("#messages li.message").evaluate_all(
            "nodes => nodes.map(n => n.dataset.seq)"
        )
    ]
    assert seqs == list(range(1, 76))
    assert bodies(on_bob)[0] == "old message 1"


def test_keyboard_and_phone_sized_screen(open_page, base_url):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    alice.send(alice.direct_with(bob), "on the phone")
    page = open_page(bob, phone=True)
    expect(page.locator("#sidebar")).to_be_visible()
    expect(page.locator("#pane")).to_be_hidden()
    screenshot(page, "phone-list")

    # Keyboard only: focus the conversation, open it with Enter, type, send with Enter.
    row_button = conversation_row(page, alice.username).get_by_role("button")
    row_button.focus()
    expect(row_button).to_have_accessible_name(re.compile(f"{alice.username}.*1 unread"))
    page.keyboard.press("Enter")
    expect(page.locator("#pane")).to_be_visible()
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(page.get_by_label("Message", exact=True)).to_be_focused()
    page.keyboard.type("typed on a phone")
    page.keyboard.press("Enter")
    expect(page.locator("#messages li.message.mine")).to_have_attribute(
        "data-status", re.compile("sent|delivered|read")
    )
    screenshot(page, "phone-chat")
    page.get_by_role("button", name="Back to conversations").click()
    expect(page.locator("#sidebar")).to_be_visible()
    expect(row_button).to_be_focused()


def test_server_restart_while_typing_loses_and_doubles_nothing(browser, env):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    contexts = [browser.new_context(base_url=base) for _ in range(2)]
    pages = [context.new_page() for context in contexts]
    watches = [PageWatch(page) for page in pages]
    on_alice, on_bob = pages
    try:
        with daphne(env, port=port):
            alice, bob = Account.register(base, "alice"), Account.register(base, "bob")
            conversation = alice.direct_with(bob)
            alice.send(conversation, "before the restart")
            log_in(on_alice, alice)
            log_in(on_bob, bob)
            for page, other in ((on_alice, bob), (on_bob, alice)):
                conversation_row(page, other.username).get_by_role("button").click()
                expect(page.locator("#messages li.message")).to_have_count(1)
            on_alice.get_by_label("Message", exact=True).fill("typed while the server ")

        # The server is down: both see the banner; Alice finishes typing and sends.
        for page in pages:
            expect(page.locator("#banner")).to_have_attribute("data-state", "reconnecting")
            expect(page.locator("#banner")).to_be_visible()
        box = on_alice.get_by_label("Message", exact=True)
        box.press_sequentially("restarts")
        box.press("Enter")
        pending = on_alice.locator('#messages li[data-status="pending"]')
        expect(pending).to_contain_text("Waiting for the connection")
        screenshot(on_alice, "reconnecting")

        with daphne(env, port=port):
            # Bob's other device sends at once, while the browsers are still reconnecting.
            bob.login()
            for n in range(3):
                bob.send(conversation, f"meanwhile {n}")
            for page in pages:
                expect(page.locator("#banner")).to_have_attribute("data-state", "online")
                expect(page.locator("#banner")).to_be_hidden()
            expected = [
                "before the restart",
                "typed while the server restarts",
                "meanwhile 0",
                "meanwhile 1",
                "meanwhile 2",
            ]
            for page in pages:
                expect(page.locator("#messages li.message[data-seq]")).to_have_count(5)
                expect(page.locator('#messages li[data-status="pending"]')).to_have_count(0)
                assert sorted(bodies(page)) == sorted(expected)
            # Stored once, whatever the client resent.
            stored = [m["body"] for m in alice.history(conversation)]
            assert sorted(stored) == sorted(expected)
            # A live message after the reconnect still arrives exactly once.
            write(on_alice, "after the reconnect")
            expect(on_bob.locator("#messages li.message")).to_have_count(6)
            assert bodies(on_bob).count("after the reconnect") == 1
    finally:
        for context in contexts:
            context.close()
    assert not [p for watch in watches for p in watch.problems]


def test_failed_and_unacknowledged_sends_are_retried_without_duplicates(open_page, base_url):
    """The socket is routed through the test: the first send is refused as `unavailable` (the
    user retries it), the second one's ack is lost with the connection (the client resends it
    after reconnecting). Both are stored and shown exactly once."""
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    conversation = alice.direct_with(bob)
    seen: list[dict] = []
    plan = {"refuse": "first try"}
    lost: dict[str, object] = {}  # the send whose answers are dropped with the connection

    def route(page_socket):
        server = page_socket.connect_to_server()

        def from_page(message):
            frame = json.loads(message)
            if frame.get("type") == "send":
                seen.append(frame)
                if frame["body"] == "ack gets lost":
                    lost.setdefault("client_msg_id", frame["client_msg_id"])
                if frame["body"] == plan.pop("refuse", None):
                    page_socket.send(
                        json.dumps(
                            {
                                "type": "error",
                                "code": "unavailable",
                                "detail": "the database is unavailable; retry later",
                                "ref": frame["client_msg_id"],
                            }
                        )
                    )
                    return
            server.send(message)

        def from_server(message):
            frame = json.loads(message)
            cid = lost.get("client_msg_id")
            if cid and frame.get("client_msg_id") == cid and not lost.get("dropped"):
                # Neither the ack nor the live copy reaches the page: the connection drops.
                if frame["type"] == "ack":
                    lost["dropped"] = True
                    page_socket.close()
                return
            page_socket.send(message)

        page_socket.on_message(from_page)
        server.on_message(from_server)

    on_alice = open_page(alice, route=route)
    conversation_row(on_alice, bob.username).get_by_role("button").click()

    write(on_alice, "first try")
    failed = on_alice.locator('#messages li[data-status="failed"]')
    expect(failed).to_contain_text("Not sent: the database is unavailable")
    failed.get_by_role("button", name="Retry").click()
    expect(on_alice.locator("#messages li.message[data-seq]")).to_have_count(1)

    write(on_alice, "ack gets lost")
    expect(on_alice.locator("#banner")).to_have_attribute("data-state", "online")
    expect(on_alice.locator("#messages li.message[data-seq]")).to_have_count(2)
    expect(on_alice.locator('#messages li[data-status="pending"]')).to_have_count(0)
    assert bodies(on_alice) == ["first try", "ack gets lost"]

    # The same client_msg_id every time; the server stored each message once.
    ids = {}
    for frame in seen:
        ids.setdefault(frame["body"], set()).add(frame["client_msg_id"])
    assert len(seen) >= 4 and all(len(cids) == 1 for cids in ids.values())
    assert [m["body"] for m in bob.history(conversation)] == ["first try", "ack gets lost"]


def test_a_live_message_lost_on_the_way_is_fetched_when_the_next_seq_skips_ahead(
    open_page, base_url
):
    """The gap rule (docs/protocol.md, "Gaps"): the route drops one live message between server
    and page; the next one's seq skips ahead, so the page syncs and shows both, in order."""
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    conversation = alice.direct_with(bob)
    syncs: list[dict] = []
    dropped: list[int] = []

    def route(page_socket):
        server = page_socket.connect_to_server()

        def from_page(message):
            frame = json.loads(message)
            if frame.get("type") == "sync":
                syncs.append(frame)
            server.send(message)

        def from_server(message):
            frame = json.loads(message)
            # The live copy only; the sync's copy gets through.
            if (
                frame.get("type") == "message"
                and frame["body"] == "lost on the way"
                and not dropped
            ):
                dropped.append(frame["seq"])
                return
            page_socket.send(message)

        page_socket.on_message(from_page)
        server.on_message(from_server)

    on_bob = open_page(bob, route=route)
    conversation_row(on_bob, alice.username).get_by_role("button").click()
    expect(on_bob.locator("#banner")).to_have_attribute("data-state", "online")
    syncs.clear()  # whatever the page synced on connecting

    alice.send(conversation, "lost on the way")
    alice.send(conversation, "after the gap")
    expect(on_bob.locator("#messages li.message[data-seq]")).to_have_count(2)
    assert bodies(on_bob) == ["lost on the way", "after the gap"]
    assert dropped, "the route never saw the live message it was to drop"
    assert [(s["conversation"], s["after_seq"]) for s in syncs] == [(conversation, dropped[0] - 1)]
