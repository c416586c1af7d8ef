"""The data lifecycle in the browser: the retention notice of a conversation, "Export my data"
and "Delete my account" on the settings page (Chromium via Playwright against a live daphne)."""

import contextlib
import urllib.error

import pytest
from playwright.sync_api import expect

from tests.conftest import REAL_SERVICES
from tests.web.browser import PASSWORD, WAIT_MS, Account, conversation_row, screenshot
from tests.workers import celery_worker

pytestmark = pytest.mark.django_db(transaction=True)
expect.set_options(timeout=WAIT_MS)


def test_retention_notice_and_my_export(open_page, base_url, env):
    # PostgreSQL + Redis: a real worker writes the export; the embedded default in the server.
    worker = celery_worker(env, name="exports") if REAL_SERVICES else contextlib.nullcontext()
    with worker:
        alice = Account.register(base_url, "alice")
        bob = Account.register(base_url, "bob")
        group = alice.call("POST", "/api/groups/", {"name": "launch", "members": [bob.id]})
        alice.send(group["id"], "plans for the launch")
        alice.call("PATCH", f"/api/conversations/{group['id']}/retention/", {"retention_days": 30})

        page = open_page(bob)
        conversation_row(page, "launch").get_by_role("button").click()
        expect(page.locator("#retention-notice")).to_have_text(
            "Messages here are deleted after 30 days"
        )
        screenshot(page, "retention-notice")

        page.goto("/settings/")
        page.get_by_role("button", name="Export my data").click()
        link = page.locator("#my-export-link")
        expect(link).to_contain_text("Download the export")
        with page.expect_download() as download:
            link.click()
        assert download.value.suggested_filename.endswith(".zip")
        screenshot(page, "export-ready")


def test_deleting_my_account_in_settings(open_page, base_url):
    alice = Account.register(base_url, "alice")
    page = open_page(alice)
    page.goto("/settings/")
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#delete-password").fill("not my password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-note")).to_contain_text("password")
    page.locator("#delete-password").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("heading", name="Your account was deleted")).to_be_visible()
    screenshot(page, "account-deleted")
    with pytest.raises(urllib.error.HTTPError) as refused:
        alice.call("GET", "/api/me/")
    assert refused.value.code == 401


@pytest.mark.postgres  # the live server shares the test database only on PostgreSQL
def test_a_conversation_trimmed_by_retention_says_so_at_its_top(open_page, base_url):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from lifecycle.models import ConversationRetention
    from messaging.models import Message

    alice = Account.register(base_url, "alice")
    bob = Account.register(base_url, "bob")
    group = alice.call("POST", "/api/groups/", {"name": "old news", "members": [bob.id]})
    for body in ("first", "second", "third"):
        alice.send(group["id"], body)
    alice.call("PATCH", f"/api/conversations/{group['id']}/retention/", {"retention_days": 30})
    # What the daily retention task leaves when the first message expired: the message gone,
    # the conversation's history starting after it. (In a thread: Playwright's loop runs in
    # this one, and Django refuses the ORM beside a running loop.)

    def expire_the_first() -> None:
        first = Message.objects.get(conversation_id=group["id"], body="first")
        Message.objects.filter(pk=first.pk).delete()
        ConversationRetention.objects.filter(conversation_id=group["id"]).update(
            first_seq=first.seq + 1
        )
        connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(expire_the_first).result()

    page = open_page(bob)
    conversation_row(page, "old news").get_by_role("button").click()
    expect(page.locator("#history-status")).to_have_text(
        "Earlier messages were deleted by this conversation's retention policy."
    )
    expect(page.locator("#messages")).to_contain_text("third")
    expect(page.locator("#messages")).not_to_contain_text("first")
