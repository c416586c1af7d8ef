"""The browser UI at product level (issue 16): feedback where the user is, the outbox and drafts
over reloads, unread navigation, layout, dark mode, RTL, the phone, and axe-core's verdict on
every screen. Chromium (Playwright) against a live daphne whose edit window is a few seconds, so
the edit-window paths run in real time."""

import re
import time

import pytest
from playwright.sync_api import expect

from tests.web.browser import (
    PASSWORD,
    WAIT_MS,
    Account,
    PageWatch,
    axe_violations,
    bodies,
    conversation_row,
    log_in,
    screenshot,
    server_env,
    write,
)

pytestmark = pytest.mark.django_db(transaction=True)
expect.set_options(timeout=WAIT_MS)

EDIT_WINDOW = 12  # seconds, for this module's server


@pytest.fixture(scope="module")
def env(django_db_setup, tmp_path_factory):
    """The live server of tests/web/conftest.py, with this module's edit window."""
    return {
        **server_env(tmp_path_factory.mktemp("parley-var")),
        "PARLEY_EDIT_WINDOW": str(EDIT_WINDOW),
    }


@pytest.fixture
def open_page(browser):
    contexts, watches = [], []

    def open_for(account, *, phone=False, route=None, color_scheme="light"):
        options = {"viewport": {"width": 1200, "height": 760}}
        if phone:
            options = {
                "viewport": {"width": 390, "height": 800},
                "is_mobile": True,
                "has_touch": True,
            }
        context = browser.new_context(base_url=account.base, color_scheme=color_scheme, **options)
        contexts.append(context)
        page = context.new_page()
        if route:
            page.route_web_socket(re.compile(r"/ws/$"), route)
        watches.append(PageWatch(page))
        log_in(page, account)
        return page

    yield open_for
    for context in contexts:
        context.close()
    assert not [p for watch in watches for p in watch.problems]


def assert_accessible(page, screen: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{screen}: {violations}"


class SwitchableSocket:
    """Routes the page's WebSocket through the test: `down()` cuts it and refuses new ones (the
    server is unreachable for the page), `up()` lets them through again."""

    def __init__(self) -> None:
        self.is_down = False
        self.sockets: list = []

    def __call__(self, page_socket) -> None:
        if self.is_down:
            page_socket.close(code=4000, reason="test: server down")
            return
        page_socket.connect_to_server()
        self.sockets.append(page_socket)

    def down(self) -> None:
        self.is_down = True
        for socket in self.sockets:
            socket.close(code=4000, reason="test: server down")
        self.sockets.clear()

    def up(self) -> None:
        self.is_down = False


def test_queued_sends_and_drafts_survive_a_reload_while_the_server_is_down(open_page, base_url):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    conversation = alice.direct_with(bob)
    line = SwitchableSocket()
    page = open_page(alice, route=line)
    conversation_row(page, bob.username).get_by_role("button").click()
    write(page, "before the outage")
    expect(page.locator("#messages li.message[data-seq]")).to_have_count(1)

    line.down()
    expect(page.locator("#banner")).to_have_attribute("data-state", "reconnecting")
    # Presence is not claimed while we cannot know it.
    expect(page.locator("#conversation-subtitle")).to_have_text("presence unknown while offline")
    write(page, "queued one")
    write(page, "queued two")
    waiting = page.locator('#messages li[data-status="pending"]')
    expect(waiting).to_have_count(2)
    expect(waiting.first).to_contain_text("Waiting for the connection")
    page.get_by_label("Message", exact=True).fill("a draft I have not sent")

    # Leaving now would ask first (the page cancels beforeunload while sends wait).
    assert page.evaluate(
        "() => !window.dispatchEvent(new Event('beforeunload', {cancelable: true}))"
    )
    page.once("dialog", lambda dialog: dialog.accept())
    page.reload()  # still no socket: the page comes back with the queue and the draft
    expect(page.locator("#banner-text")).to_contain_text("2 messages wait to be sent")
    assert bob.history(conversation)[-1]["body"] == "before the outage"

    line.up()
    page.locator("#banner-retry").click()
    expect(page.locator("#banner")).to_have_attribute("data-state", "online")
    conversation_row(page, bob.username).get_by_role("button").click()
    expect(page.locator("#messages li.message[data-seq]")).to_have_count(3)
    expect(page.locator('#messages li[data-status="pending"]')).to_have_count(0)
    assert bodies(page) == ["before the outage", "queued one", "queued two"]
    expect(page.get_by_label("Message", exact=True)).to_have_value("a draft I have not sent")
    # Stored once each, in order.
    assert [m["body"] for m in bob.history(conversation)] == [
        "before the outage",
        "queued one",
        "queued two",
    ]


def test_a_refused_edit_keeps_its_text_next_to_the_composer_and_edit_goes_away(open_page, base_url):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    alice.direct_with(bob)
    page = open_page(alice)
    conversation_row(page, bob.username).get_by_role("button").click()
    write(page, "typo here")
    mine = page.locator("#messages li.message.mine").filter(has_text="typo here")
    expect(mine).to_have_attribute("data-seq", re.compile(r"\d"))
    mine.hover()
    mine.get_by_role("button", name="Edit this message").click()
    box = page.get_by_label("Message", exact=True)
    box.fill("fixed text, sent too late")
    time.sleep(EDIT_WINDOW + 1)  # the server's window passes while the user types
    box.press("Enter")

    error = page.locator("#composer-error")
    expect(error).to_have_text("This message can no longer be edited: the edit window has passed.")
    expect(box).to_have_value("fixed text, sent too late")
    expect(page.locator("#composer-mode")).to_be_visible()
    # The error is where the user looks: inside the visible viewport, next to the composer.
    assert error.bounding_box()["y"] > 500
    # And the message no longer offers Edit (Delete stays).
    expect(mine.get_by_role("button", name="Edit this message")).to_have_count(0)
    expect(mine.get_by_role("button", name="Delete this message")).to_have_count(1)


def test_a_counter_replaces_the_silent_cut_at_the_length_limit(open_page, base_url):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    conversation = alice.direct_with(bob)
    page = open_page(alice)
    conversation_row(page, bob.username).get_by_role("button").click()
    box = page.get_by_label("Message", exact=True)
    box.fill("x" * 3000)
    expect(page.locator("#composer-count")).to_be_hidden()
    box.fill("x" * 3900)
    expect(page.locator("#composer-count")).to_have_text("3900 / 4000")
    box.fill("x" * 5000)  # a paste of 5,000 characters is kept whole
    expect(page.locator("#composer-count")).to_have_text("1000 characters over the limit of 4000")
    box.press("Enter")
    expect(page.locator("#composer-error")).to_have_text(
        "The message is too long: at most 4000 characters."
    )
    expect(box).to_have_value("x" * 5000)
    assert bob.history(conversation) == []


def test_unread_divider_opens_at_the_first_unread_with_jump_and_keyboard_navigation(
    open_page, base_url
):
    alice, bob, carol = (Account.register(base_url, n) for n in ("alice", "bob", "carol"))
    with_bob = alice.direct_with(bob)
    carol.direct_with(alice)
    alice.send(with_bob, "already read")
    for n in range(1, 129):
        bob.send(with_bob, f"unread {n}")
    carol.send(carol.direct_with(alice), "carol says hi")
    page = open_page(alice)
    expect(conversation_row(page, bob.username).locator(".badge")).to_have_text("128")
    expect(page.locator("#favicon")).to_have_attribute("href", re.compile("^data:image/svg"))

    conversation_row(page, bob.username).get_by_role("button").click()
    divider = page.locator("#messages li.unread-divider")
    expect(divider).to_be_in_viewport()
    first_unread = divider.locator("xpath=following-sibling::li[contains(@class,'message')][1]")
    expect(first_unread.locator(".body")).to_have_text("unread 1")
    expect(first_unread).to_be_in_viewport()
    expect(
        page.locator("#messages li.message").filter(has_text="unread 128")
    ).not_to_be_in_viewport()
    screenshot(page, "unread-divider")
    page.get_by_role("button", name="Jump to latest").click()
    expect(page.locator("#messages li.message").filter(has_text="unread 128")).to_be_in_viewport()
    expect(page.get_by_role("button", name="Jump to latest")).to_be_hidden()

    # Alt+Down: the next conversation with unread messages.
    page.keyboard.press("Alt+ArrowDown")
    expect(page.locator("#conversation-title")).to_have_text(carol.username)
    expect(page.locator("#messages li.message").last).to_contain_text("carol says hi")

    # The sidebar filter.
    page.get_by_label("Filter conversations").fill(carol.username[:6])
    expect(page.locator("#conversation-list li")).to_have_count(1)
    page.get_by_label("Filter conversations").fill("nobody-is-called-this")
    expect(page.get_by_text("No conversation matches the filter.")).to_be_visible()


def test_mark_all_as_read_clears_every_badge(open_page, base_url):
    alice, bob, carol = (Account.register(base_url, n) for n in ("alice", "bob", "carol"))
    bob.send(bob.direct_with(alice), "from bob")
    carol.send(carol.direct_with(alice), "from carol")
    page = open_page(alice)
    expect(page.locator("#conversation-list .badge")).to_have_count(2)
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.locator("#conversation-list .badge")).to_have_count(0)
    expect(page).to_have_title("Parley")
    page.reload()
    expect(page.locator("#banner")).to_have_attribute("data-state", "online")
    expect(page.locator("#conversation-list li")).to_have_count(2)
    expect(page.locator("#conversation-list .badge")).to_have_count(0)


def test_grouped_messages_dark_mode_rtl_and_no_serious_accessibility_violations(
    open_page, base_url, browser
):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    conversation = alice.direct_with(bob)
    group = alice.call("POST", "/api/groups/", {"name": "Solo", "members": []})
    for text in ("first line", "second line", "مرحبا بالعالم"):
        bob.send(conversation, text)
    page = open_page(alice, color_scheme="dark")
    # Dark mode from the system's preference.
    dark = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert dark == "rgb(17, 20, 24)"
    assert_accessible(page, "conversation list, dark")

    conversation_row(page, bob.username).get_by_role("button").click()
    rows = page.locator("#messages li.message")
    expect(rows).to_have_count(3)
    # One header for the run of messages from one sender.
    expect(rows.nth(1)).to_have_class(re.compile(r"\bgrouped\b"))
    expect(rows.nth(0)).not_to_have_class(re.compile(r"\bgrouped\b"))
    arabic = rows.nth(2).locator(".body")
    expect(arabic).to_have_attribute("dir", "auto")
    assert arabic.evaluate("node => getComputedStyle(node).direction") == "rtl"
    assert_accessible(page, "chat, dark")
    screenshot(page, "dark")

    # The switch: light, whatever the system says, and it sticks over a reload.
    page.get_by_role("button", name="Theme: system").click()
    expect(page.get_by_role("button", name="Theme: light")).to_be_visible()
    page.reload()
    expect(page.locator("#banner")).to_have_attribute("data-state", "online")
    light = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert light == "rgb(246, 247, 249)"
    conversation_row(page, "Solo").get_by_role("button").click()
    expect(page.locator("#conversation-subtitle")).to_have_text("1 member")
    assert_accessible(page, "group, light")
    assert group["id"]

    page.goto("/settings/")
    assert_accessible(page, "settings")
    context = browser.new_context(base_url=base_url)
    login = context.new_page()
    login.goto("/login/")
    assert_accessible(login, "login")
    context.close()


def test_phone_touch_menu_and_accessible_confirmation(open_page, base_url):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    conversation = alice.direct_with(bob)
    alice.send(conversation, "delete me")
    page = open_page(alice, phone=True)
    assert_accessible(page, "phone list")
    conversation_row(page, bob.username).get_by_role("button").tap()
    mine = page.locator("#messages li.message.mine").filter(has_text="delete me")
    more = mine.get_by_role("button", name="More actions")
    box = more.bounding_box()
    assert box["width"] >= 24 and box["height"] >= 24
    more.tap()
    delete = mine.get_by_role("button", name="Delete this message")
    expect(delete).to_be_visible()
    assert delete.bounding_box()["height"] >= 24
    assert_accessible(page, "phone chat")
    screenshot(page, "phone-menu")
    delete.tap()
    confirm = page.get_by_role("alertdialog", name="Delete this message?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    assert_accessible(page, "confirmation dialog")
    page.keyboard.press("Escape")  # cancelled: nothing happens
    expect(confirm).to_have_count(0)
    expect(mine.locator(".body")).to_have_text("delete me")


def test_favicon_and_last_message_previews_without_history_fetches(open_page, base_url, browser):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    bob.send(bob.direct_with(alice), "the preview")
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    watch = PageWatch(page)
    history_calls = []
    page.on(
        "request",
        lambda request: "/messages/" in request.url and history_calls.append(request.url),
    )
    page.goto("/login/")
    page.get_by_label("Username").fill(alice.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    row = conversation_row(page, bob.username)
    expect(row.locator(".conversation-preview")).to_have_text("the preview")
    assert history_calls == []  # the summary carried it
    icon = page.request.get(f"{base_url}/favicon.ico")
    assert icon.ok and "svg" in icon.headers["content-type"]
    context.close()
    assert not watch.problems


def test_group_details_description_ownership_and_a_confirmed_removal(open_page, base_url):
    alice, bob, carol = (Account.register(base_url, n) for n in ("alice", "bob", "carol"))
    group = alice.call("POST", "/api/groups/", {"name": "Crew", "members": [bob.id, carol.id]})
    page = open_page(alice)
    conversation_row(page, "Crew").get_by_role("button").click()
    expect(page.locator("#conversation-subtitle")).to_have_text("3 members")
    page.get_by_role("button", name="Details").click()
    details = page.locator("#details")
    expect(details.locator("#member-list li")).to_have_count(3)
    details.get_by_label("Description").fill("Ships the release")
    details.get_by_role("button", name="Save", exact=True).click()
    expect(details.locator("#details-note")).to_have_text("Your role: owner")
    details.get_by_role("button", name="Close details").click()
    page.get_by_role("button", name="Details").click()
    expect(details.get_by_label("Description")).to_have_value("Ships the release")
    assert bob.call("GET", f"/api/groups/{group['id']}/")["description"] == "Ships the release"

    # Removing a member asks first; cancelling keeps them.
    details.get_by_role("button", name=f"Remove {carol.username}").click()
    confirm = page.get_by_role("alertdialog", name=f"Remove {carol.username} from Crew?")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    expect(details.locator("#member-list li")).to_have_count(3)
    details.get_by_role("button", name=f"Remove {carol.username}").click()
    confirm.get_by_role("button", name="Remove").click()
    expect(details.locator("#member-list li")).to_have_count(2)

    # Ownership transfer, confirmed.
    details.get_by_role("button", name=f"Make {bob.username} the owner").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Make owner").click()
    expect(details.locator(f'#member-list li[data-user-id="{bob.id}"] .role')).to_have_text("owner")


def test_seen_by_popover_names_who_read_a_group_message(open_page, base_url):
    alice, bob, carol, dave = (
        Account.register(base_url, name) for name in ("alice", "bob", "carol", "dave")
    )
    group = alice.call(
        "POST", "/api/groups/", {"name": "Standup", "members": [bob.id, carol.id, dave.id]}
    )["id"]
    page = open_page(alice)
    conversation_row(page, "Standup").get_by_role("button").click()
    write(page, "Ship it today")
    mine = page.locator("#messages li.message.mine").filter(has_text="Ship it today")
    expect(mine).to_have_attribute("data-seq", re.compile(r"\d+"))
    seq = int(mine.get_attribute("data-seq"))
    for reader in (bob, carol):
        reader.call("POST", f"/api/conversations/{group}/read/", {"seq": seq})
    expect(mine).to_have_attribute("data-status", "read by 2")

    # Keyboard: the read mark is a button; Enter opens who has read, focus moves into it.
    seen = mine.get_by_role("button", name="✓✓ Read by 2")
    seen.focus()
    page.keyboard.press("Enter")
    details = page.get_by_role("dialog", name="Seen by")
    expect(details).to_be_visible()
    expect(details.get_by_role("button", name="Close")).to_be_focused()
    expect(mine.locator(".seen-by")).to_have_attribute("aria-expanded", "true")
    readers = details.get_by_role("listitem")
    expect(readers).to_have_text([bob.username, carol.username])
    expect(details).not_to_contain_text(dave.username)
    assert_accessible(page, "read details")
    screenshot(page, "seen-by")

    # It stays current while receipts arrive, and Escape gives focus back to the mark.
    dave.call("POST", f"/api/conversations/{group}/read/", {"seq": seq})
    expect(readers).to_have_text([bob.username, carol.username, dave.username])
    page.keyboard.press("Escape")
    expect(details).to_be_hidden()
    expect(mine.get_by_role("button", name="✓✓ Read by 3")).to_be_focused()
    expect(mine.locator(".seen-by")).to_have_attribute("aria-expanded", "false")

    # After a reload the receipts came before the page: it asks the server who read.
    page.reload()
    conversation_row(page, "Standup").get_by_role("button").click()
    mine.get_by_role("button", name="✓✓ Read by 3").click()
    expect(readers).to_have_text([bob.username, carol.username, dave.username])
    page.mouse.click(5, 700)  # a click elsewhere closes it
    expect(details).to_be_hidden()


def test_a_long_conversation_keeps_a_bounded_window_of_rows_and_scrolls_through_all(
    open_page, base_url
):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    conversation = alice.direct_with(bob)
    total = 260
    for n in range(1, total + 1):
        alice.send(conversation, f"line {n}")
    bob.call("POST", f"/api/conversations/{conversation}/read/", {"seq": total})
    page = open_page(bob)
    conversation_row(page, alice.username).get_by_role("button").click()
    rows = page.locator("#messages li.message")
    expect(rows.last).to_contain_text(f"line {total}")

    # Scrolling up to the beginning: every message shows up once, in order, without gaps,
    # while the list never holds more than a window of rows (messagelist.js, store.js).
    seen: set[int] = set()
    for _ in range(60):
        seqs = rows.evaluate_all("nodes => nodes.map(n => Number(n.dataset.seq))")
        assert len(seqs) <= 200
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        seen.update(seqs)
        if seqs[0] == 1:
            break
        page.locator("#history").evaluate(
            "node => { node.scrollTop = 0; node.dispatchEvent(new Event('scroll')); }"
        )
        expect(rows.first).not_to_have_attribute("data-seq", str(seqs[0]))
    assert seen == set(range(1, total + 1))
    expect(page.locator("#history-status")).to_have_text(
        "This is the beginning of the conversation."
    )
    expect(rows.last).not_to_contain_text(f"line {total}")  # the newest rows were dropped

    page.get_by_role("button", name="Jump to latest").click()
    expect(rows.last).to_contain_text(f"line {total}")
    assert rows.count() <= 200
